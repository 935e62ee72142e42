/**
 * A stand-in for the kernel refusing to watch a socket (epoll_ctl ADD failing with ENOSPC, as past
 * fs.epoll.max_user_watches): the one seam the relay's tests cannot provoke for real without
 * starving every process of the user (the limit is per user). An LD_PRELOAD library whose
 * epoll_ctl refuses ADD with ENOSPC
 * - while `KSBC_TEST_EPOLL_REFUSE` is set (a child process sets it around synchronous addon calls,
 *   so libuv's own epoll_ctl never sees it), or
 * - for a socket bound to a port in `KSBC_TEST_EPOLL_REFUSE_PORTS` (`lo-hi`): a media pod's realm
 *   range, so its relay legs are refused while its NG, HTTP and Redis sockets are not.
 * Everything else goes to the real epoll_ctl.
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

const SHIM = `#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/socket.h>
static int refused_port(int fd) {
  const char *range = getenv("KSBC_TEST_EPOLL_REFUSE_PORTS");
  unsigned lo, hi;
  if (!range || sscanf(range, "%u-%u", &lo, &hi) != 2) return 0;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return 0;
  unsigned port = ss.ss_family == AF_INET ? ntohs(((struct sockaddr_in *)&ss)->sin_port)
                : ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port) : 0;
  return port >= lo && port <= hi;
}
int epoll_ctl(int epfd, int op, int fd, struct epoll_event *ev) {
  static int (*real)(int, int, int, struct epoll_event *);
  if (!real) real = (int (*)(int, int, int, struct epoll_event *))dlsym(RTLD_NEXT, "epoll_ctl");
  if (op == EPOLL_CTL_ADD && (getenv("KSBC_TEST_EPOLL_REFUSE") || refused_port(fd))) {
    errno = ENOSPC;
    return -1;
  }
  return real(epfd, op, fd, ev);
}
`

/** Builds the shim (cc) in a temporary directory; `remove()` deletes it. */
export function buildEpollShim(): { path: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ksbc-epoll-shim-'))
  writeFileSync(join(dir, 'shim.c'), SHIM)
  const path = join(dir, 'shim.so')
  execFileSync('cc', ['-shared', '-fPIC', '-o', path, join(dir, 'shim.c'), '-ldl'])
  return { path, remove: () => rmSync(dir, { recursive: true, force: true }) }
}
