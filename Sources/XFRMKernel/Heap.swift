import CXFRM

/// The process heap, as glibc's malloc sees it.
public enum Heap {
    /// Bytes handed out by malloc and not yet freed (arenas and mmapped chunks).
    public static var bytesInUse: Int { ipsectop_heap_in_use() }

    /// Gives malloc's free pages back to the kernel. It walks the heap (about 5 ms with 180 MB in
    /// use), so call it after large transient allocations are gone, not on every refresh.
    public static func trim() { _ = ipsectop_heap_trim() }
}
