// Kernel XFRM and netlink definitions for Swift, with the macros Swift cannot
// import exposed as prefixed static inline functions. glibc's socket and
// inet headers come before <linux/xfrm.h> so in6_addr is defined once.
#ifndef IPSECTOP_CXFRM_H
#define IPSECTOP_CXFRM_H

#include <sys/socket.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stddef.h>
#include <malloc.h>
#include <string.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

/// NLMSG_HDRLEN
static inline uint32_t ipsectop_nlmsg_hdrlen(void) { return (uint32_t)NLMSG_HDRLEN; }
/// NLMSG_ALIGN(len)
static inline uint32_t ipsectop_nlmsg_align(uint32_t len) { return (uint32_t)NLMSG_ALIGN(len); }
/// NLA_ALIGN(len)
static inline uint32_t ipsectop_nla_align(uint32_t len) { return (uint32_t)NLA_ALIGN(len); }
/// NLA_HDRLEN
static inline uint32_t ipsectop_nla_hdrlen(void) { return (uint32_t)NLA_HDRLEN; }
/// NLA_TYPE_MASK
static inline uint16_t ipsectop_nla_type_mask(void) { return (uint16_t)NLA_TYPE_MASK; }
/// XFRM_INF
static inline uint64_t ipsectop_xfrm_inf(void) { return (uint64_t)XFRM_INF; }
/// offsetof(struct xfrm_user_expire, hard)
static inline size_t ipsectop_offsetof_expire_hard(void) { return offsetof(struct xfrm_user_expire, hard); }
/// offsetof(struct xfrm_user_polexpire, hard)
static inline size_t ipsectop_offsetof_polexpire_hard(void) { return offsetof(struct xfrm_user_polexpire, hard); }
/// offsetof(struct xfrm_user_report, sel)
static inline size_t ipsectop_offsetof_report_sel(void) { return offsetof(struct xfrm_user_report, sel); }
/// sizeof(struct xfrm_replay_state_esn) without the flexible bitmap
static inline size_t ipsectop_sizeof_replay_esn(void) { return sizeof(struct xfrm_replay_state_esn); }
/// sizeof(struct xfrm_algo) without the flexible key
static inline size_t ipsectop_sizeof_algo(void) { return sizeof(struct xfrm_algo); }
/// sizeof(struct xfrm_algo_auth) without the flexible key
static inline size_t ipsectop_sizeof_algo_auth(void) { return sizeof(struct xfrm_algo_auth); }
/// sizeof(struct xfrm_algo_aead) without the flexible key
static inline size_t ipsectop_sizeof_algo_aead(void) { return sizeof(struct xfrm_algo_aead); }
/// sizeof(struct xfrm_sec_ctx) without the flexible string
static inline size_t ipsectop_sizeof_sec_ctx(void) { return sizeof(struct xfrm_sec_ctx); }
/// sizeof(struct xfrm_user_sec_ctx)
static inline size_t ipsectop_sizeof_user_sec_ctx(void) { return sizeof(struct xfrm_user_sec_ctx); }
/// sizeof(struct nlmsgerr)
static inline size_t ipsectop_sizeof_nlmsgerr(void) { return sizeof(struct nlmsgerr); }

/// Overwrites memory with zeros in a way the optimiser may not drop; used to
/// wipe buffers that held key material.
static inline void ipsectop_explicit_bzero(void *p, size_t n) {
    volatile unsigned char *v = (volatile unsigned char *)p;
    while (n--) *v++ = 0;
}

/// Bytes malloc has handed out and not had back (arenas plus mmapped chunks).
static inline size_t ipsectop_heap_in_use(void) {
    struct mallinfo2 m = mallinfo2();
    return m.uordblks + m.hblkhd;
}
/// Returns malloc's free pages to the kernel (after a large transient allocation is freed).
static inline int ipsectop_heap_trim(void) { return malloc_trim(0); }

#endif
