/// A mouse button event at a screen cell.
public struct MouseEvent: Hashable, Sendable {
    /// Which button (the wheel reports as buttons 4 and 5).
    public enum Button: Hashable, Sendable { case left, wheelUp, wheelDown }
    public var x: Int, y: Int
    public var button: Button
    public init(x: Int, y: Int, button: Button) { self.x = x; self.y = y; self.button = button }
}

/// One input event for the dashboard controller.
public enum InputEvent: Hashable, Sendable {
    case key(Key)
    case mouse(MouseEvent)
    /// The terminal is now `cols` x `rows` (also sent after a forced redraw).
    case resize(cols: Int, rows: Int)
}
