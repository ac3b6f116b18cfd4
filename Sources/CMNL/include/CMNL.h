// libmnl for Swift: the library header plus prefixed functions for its macros.
#ifndef IPSECTOP_CMNL_H
#define IPSECTOP_CMNL_H

#include "../../CXFRM/include/CXFRM.h"
#include <libmnl/libmnl.h>
#include <fcntl.h>
#include <unistd.h>
#include <errno.h>
#include <poll.h>
#include <sys/types.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <net/if.h>

/// MNL_SOCKET_BUFFER_SIZE
static inline size_t ipsectop_mnl_socket_buffer_size(void) { return (size_t)MNL_SOCKET_BUFFER_SIZE; }
/// MNL_ALIGN(len)
static inline size_t ipsectop_mnl_align(size_t len) { return (size_t)MNL_ALIGN(len); }
/// setns(fd, CLONE_NEWNET): moves the calling thread into the network namespace of fd.
int ipsectop_enter_netns(int fd);
/// errno, readable from Swift without the thread-local accessor.
static inline int ipsectop_errno(void) { return errno; }
/// Receives one datagram and reports the netlink sender (pid and groups).
static inline ssize_t ipsectop_nl_recvfrom(int fd, void *buf, size_t len, int flags,
                                           uint32_t *sender_pid, uint32_t *sender_groups) {
    struct sockaddr_nl addr;
    socklen_t alen = sizeof(addr);
    memset(&addr, 0, sizeof(addr));
    ssize_t n = recvfrom(fd, buf, len, flags, (struct sockaddr *)&addr, &alen);
    if (n >= 0) {
        if (sender_pid) *sender_pid = addr.nl_pid;
        if (sender_groups) *sender_groups = addr.nl_groups;
    }
    return n;
}
/// setsockopt with an int value.
static inline int ipsectop_setsockopt_int(int fd, int level, int name, int value) {
    return setsockopt(fd, level, name, &value, sizeof(value));
}
/// getsockopt with an int value.
static inline int ipsectop_getsockopt_int(int fd, int level, int name, int *value) {
    socklen_t len = sizeof(*value);
    return getsockopt(fd, level, name, value, &len);
}
/// SOL_NETLINK
static inline int ipsectop_sol_netlink(void) { return SOL_NETLINK; }
/// NETLINK_EXT_ACK
static inline int ipsectop_netlink_ext_ack(void) { return NETLINK_EXT_ACK; }
/// NETLINK_CAP_ACK
static inline int ipsectop_netlink_cap_ack(void) { return NETLINK_CAP_ACK; }
/// NETLINK_ADD_MEMBERSHIP
static inline int ipsectop_netlink_add_membership(void) { return NETLINK_ADD_MEMBERSHIP; }
/// SO_RCVBUFFORCE
static inline int ipsectop_so_rcvbufforce(void) { return SO_RCVBUFFORCE; }
/// SO_RCVBUF
static inline int ipsectop_so_rcvbuf(void) { return SO_RCVBUF; }
/// SOL_SOCKET
static inline int ipsectop_sol_socket(void) { return SOL_SOCKET; }

/// Opens an AF_PACKET/SOCK_DGRAM socket for all protocols and attaches a
/// classic BPF program; returns the fd or -1 (errno set).
static inline int ipsectop_packet_socket_with_filter(struct sock_filter *code, unsigned short len) {
    int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(ETH_P_ALL));
    if (fd < 0) return -1;
    struct sock_fprog prog = { .len = len, .filter = code };
    if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof(prog)) < 0) {
        int e = errno; close(fd); errno = e; return -1;
    }
    return fd;
}
/// Receives one packet and reports its direction (PACKET_OUTGOING or not) and protocol.
static inline ssize_t ipsectop_packet_recv(int fd, void *buf, size_t len, int *outgoing, uint16_t *protocol) {
    struct sockaddr_ll sll;
    socklen_t alen = sizeof(sll);
    memset(&sll, 0, sizeof(sll));
    ssize_t n = recvfrom(fd, buf, len, MSG_DONTWAIT, (struct sockaddr *)&sll, &alen);
    if (n >= 0) {
        if (outgoing) *outgoing = sll.sll_pkttype == PACKET_OUTGOING;
        if (protocol) *protocol = ntohs(sll.sll_protocol);
    }
    return n;
}
#endif
