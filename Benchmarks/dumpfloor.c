/* dumpfloor: the raw GETSA dump floor for Benchmarks/run.sh.
 *
 * Enters the named network namespace (like `ip -n NAME`), sends one
 * XFRM_MSG_GETSA dump request and receives the reply with a 32 KiB buffer,
 * walking only the netlink headers until NLMSG_DONE. Nothing is decoded or
 * printed except one summary line on stderr. This is the least any tool can
 * do to read every SA. Usage: dumpfloor [NETNS] [REPEAT]
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/xfrm.h>

static char buf[32768];

int main(int argc, char **argv) {
    if (argc > 1 && argv[1][0] != '\0') {
        char path[256];
        snprintf(path, sizeof path, "/run/netns/%s", argv[1]);
        int nsfd = open(path, O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || setns(nsfd, CLONE_NEWNET) < 0) { perror(path); return 4; }
        close(nsfd);
    }
    int repeat = argc > 2 ? atoi(argv[2]) : 1;
    int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_XFRM);
    if (fd < 0) { perror("socket"); return 1; }
    struct sockaddr_nl local = { .nl_family = AF_NETLINK };
    if (bind(fd, (struct sockaddr *)&local, sizeof local) < 0) { perror("bind"); return 1; }
    long records = 0, bytes = 0, datagrams = 0;
    for (int r = 0; r < repeat; r++) {
        struct nlmsghdr req = { .nlmsg_len = NLMSG_HDRLEN, .nlmsg_type = XFRM_MSG_GETSA,
                                .nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP, .nlmsg_seq = (unsigned)r + 1 };
        struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
        if (sendto(fd, &req, req.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) { perror("sendto"); return 1; }
        int done = 0;
        while (!done) {
            ssize_t n = recv(fd, buf, sizeof buf, 0);
            if (n < 0) { if (errno == EINTR) continue; perror("recv"); return 1; }
            datagrams++;
            bytes += n;
            for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (unsigned)n); h = NLMSG_NEXT(h, n)) {
                if (h->nlmsg_type == NLMSG_DONE) { done = 1; break; }
                if (h->nlmsg_type == NLMSG_ERROR) { fprintf(stderr, "dumpfloor: NLMSG_ERROR\n"); return 1; }
                records++;
            }
        }
    }
    fprintf(stderr, "dumpfloor: %d dump(s), %ld records, %ld datagrams, %ld bytes\n", repeat, records, datagrams, bytes);
    close(fd);
    return 0;
}
