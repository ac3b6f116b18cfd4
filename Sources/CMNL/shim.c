#define _GNU_SOURCE
#include <sched.h>
#include "CMNL.h"

int ipsectop_enter_netns(int fd) { return setns(fd, CLONE_NEWNET); }
