/* vsock_tool: both ends of the lab's virtio_vsock scenario (tests/lab/scenarios/virtio_vsock.sh,
 * docs/lab.md). lab.sh compiles it with the host's gcc -static and puts it in L1's /bin and in
 * the L2 initramfs's /bin. One binary, one mode per command line:
 *
 *   L2 (the guest, AF_VSOCK):
 *     vsock-cid                 print the local CID (IOCTL_VM_SOCKETS_GET_LOCAL_CID on /dev/vsock)
 *     vsock-echo PORT [COUNT]   listen on PORT, accept COUNT connections (default 1), echo each
 *                               (a process per connection) until EOF or reset; one line each
 *     vsock-connect CID PORT    connect; stdin -> connection (then SHUT_WR), connection -> stdout
 *   L1 (the host side of ember's Unix sockets, Firecracker's protocol):
 *     uds-connect PATH PORT     connect to PATH, send "CONNECT PORT\n", expect "OK <n>\n", then as
 *                               vsock-connect
 *     uds-echo PATH [COUNT]     listen on PATH (ember connects there, to PATH = <uds>_<port>, for
 *                               a guest-initiated connection), echo COUNT connections
 *
 * Options (before the mode): --close-after N (connect modes: send N bytes of stdin, then close the
 * socket without reading, as a peer that goes away early), --echo (connect modes: no SHUT_WR after
 * stdin; close once as many bytes came back as were sent: ember, like Firecracker, takes EOF on
 * its Unix socket as the end of the whole connection, so a host side cannot half-close),
 * --timeout S (default 60: the process ends with status 3 after S seconds, so that a stuck test
 * fails instead of hanging).
 * Messages go to stderr, one write(2) per line, prefixed by $TAG when it is set.
 * Exit status: 0 ok, 1 an error, 2 bad arguments, 3 timeout. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/vm_sockets.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

static long long close_after = -1;
static int echo_mode = 0;

static void say(const char* fmt, ...) {
    char line[512];
    const char* tag = getenv("TAG");
    int n = snprintf(line, sizeof line, "%s%s", tag ? tag : "", tag && *tag ? " " : "");
    va_list ap;
    va_start(ap, fmt);
    n += vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (n > (int)sizeof line - 2) n = (int)sizeof line - 2;
    line[n++] = '\n';
    ssize_t w = write(STDERR_FILENO, line, (size_t)n);
    (void)w;
}

static void on_alarm(int sig) {
    (void)sig;
    static const char msg[] = "vsock_tool: timeout\n";
    ssize_t w = write(STDERR_FILENO, msg, sizeof msg - 1);
    (void)w;
    _exit(3);
}

static int write_all(int fd, const char* buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

/* stdin -> fd (then shutdown(SHUT_WR)), fd -> stdout, until the peer's EOF. With --echo there is
 * no shutdown: it ends, closing the socket, once as many bytes came back as were sent. */
static int pump(int fd) {
    static char buf[65536];
    long long sent = 0, got = 0;
    int in_open = 1;
    for (;;) {
        struct pollfd p[2] = {{.fd = fd, .events = POLLIN},
                              {.fd = in_open ? 0 : -1, .events = POLLIN}};
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR) continue;
            say("poll: %s", strerror(errno));
            return 1;
        }
        if (in_open && p[1].revents) {
            size_t want = sizeof buf;
            if (close_after >= 0 && (long long)want > close_after - sent)
                want = (size_t)(close_after - sent);
            ssize_t n = want ? read(0, buf, want) : 0;
            if (n < 0) {
                say("read stdin: %s", strerror(errno));
                return 1;
            }
            if (n > 0 && write_all(fd, buf, (size_t)n) < 0) {
                say("send after %lld bytes: %s", sent, strerror(errno));
                return 1;
            }
            sent += n;
            if (close_after >= 0 && sent >= close_after) {
                close(fd);
                say("closed early after sending %lld bytes (received %lld)", sent, got);
                return 0;
            }
            if (n == 0) {
                in_open = 0;
                if (!echo_mode && shutdown(fd, SHUT_WR) < 0) say("shutdown: %s", strerror(errno));
                if (echo_mode && got >= sent) break;
            }
        }
        if (p[0].revents) {
            ssize_t n = read(fd, buf, sizeof buf);
            if (n < 0) {
                if (errno == EINTR || errno == EAGAIN) continue;
                say("recv after %lld bytes: %s", got, strerror(errno));
                return 1;
            }
            if (n == 0) break;
            if (write_all(1, buf, (size_t)n) < 0) {
                say("write stdout: %s", strerror(errno));
                return 1;
            }
            got += n;
            if (echo_mode && !in_open && got >= sent) break;
        }
    }
    if (echo_mode && got != sent) {
        say("sent %lld bytes, %lld came back before the peer closed", sent, got);
        return 1;
    }
    close(fd);
    if (in_open) say("the peer closed before all of stdin was sent (%lld bytes sent)", sent);
    return in_open ? 1 : 0;
}

/* Echoes one connection; a line: "conn I: eof after N bytes" or "conn I: reset ...". */
static int echo_conn(int fd, int index) {
    static char buf[65536];
    long long total = 0;
    for (;;) {
        ssize_t n = read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            say("conn %d: %s after %lld bytes", index,
                errno == ECONNRESET ? "reset" : strerror(errno), total);
            return 0;
        }
        if (n == 0) break;
        if (write_all(fd, buf, (size_t)n) < 0) {
            say("conn %d: %s after %lld bytes", index,
                errno == ECONNRESET || errno == EPIPE ? "reset" : strerror(errno), total);
            return 0;
        }
        total += n;
    }
    say("conn %d: eof after %lld bytes", index, total);
    return 0;
}

/* Accepts count connections on the listening socket, echoes each in its own process. */
static int serve(int lfd, int count, const char* what) {
    say("listening on %s", what);
    for (int i = 0; i < count; i++) {
        int cfd = accept(lfd, NULL, NULL);
        if (cfd < 0) {
            if (errno == EINTR) {
                i--;
                continue;
            }
            say("accept: %s", strerror(errno));
            return 1;
        }
        pid_t pid = fork();
        if (pid == 0) {
            close(lfd);
            _exit(echo_conn(cfd, i));
        }
        close(cfd);
        if (pid < 0) {
            say("fork: %s", strerror(errno));
            return 1;
        }
    }
    close(lfd);
    int status, bad = 0;
    while (wait(&status) > 0)
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) bad = 1;
    return bad;
}

static unsigned parse_u32(const char* s) {
    char* end;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno || *end || end == s || v > 0xffffffffUL) {
        say("not a number: '%s'", s);
        exit(2);
    }
    return (unsigned)v;
}

static int vsock_socket(void) {
    int fd = socket(AF_VSOCK, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        say("socket(AF_VSOCK): %s", strerror(errno));
        exit(1);
    }
    return fd;
}

static struct sockaddr_un unix_addr(const char* path) {
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    if (strlen(path) >= sizeof a.sun_path) {
        say("path too long: %s", path);
        exit(2);
    }
    strcpy(a.sun_path, path);
    return a;
}

static int uds_connect(const char* path, unsigned port) {
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un a = unix_addr(path);
    if (fd < 0 || connect(fd, (struct sockaddr*)&a, sizeof a) < 0) {
        say("connect %s: %s", path, strerror(errno));
        return -1;
    }
    char line[64];
    int n = snprintf(line, sizeof line, "CONNECT %u\n", port);
    if (write_all(fd, line, (size_t)n) < 0) {
        say("send CONNECT: %s", strerror(errno));
        return -1;
    }
    /* The reply, byte by byte: nothing after its newline may be consumed here. */
    size_t len = 0;
    while (len < sizeof line - 1) {
        ssize_t r = read(fd, line + len, 1);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            line[len] = 0;
            say("CONNECT %u: connection closed after '%s' (%s)", port, line,
                r < 0 ? strerror(errno) : "eof");
            return -1;
        }
        if (line[len++] == '\n') break;
    }
    line[len] = 0;
    if (strncmp(line, "OK ", 3) != 0 || line[len - 1] != '\n') {
        say("CONNECT %u: unexpected reply '%s'", port, line);
        return -1;
    }
    line[len - 1] = 0;
    say("CONNECT %u: %s", port, line);
    return fd;
}

int main(int argc, char** argv) {
    unsigned timeout = 60;
    int i = 1;
    signal(SIGPIPE, SIG_IGN);
    while (i + 1 < argc && strncmp(argv[i], "--", 2) == 0) {
        if (strcmp(argv[i], "--echo") == 0) {
            echo_mode = 1;
            i++;
            continue;
        }
        if (strcmp(argv[i], "--close-after") == 0)
            close_after = parse_u32(argv[i + 1]);
        else if (strcmp(argv[i], "--timeout") == 0)
            timeout = parse_u32(argv[i + 1]);
        else
            break;
        i += 2;
    }
    if (i >= argc) goto usage;
    signal(SIGALRM, on_alarm);
    alarm(timeout);
    const char* mode = argv[i];
    char** a = argv + i + 1;
    int n = argc - i - 1;

    if (strcmp(mode, "vsock-cid") == 0 && n == 0) {
        int fd = open("/dev/vsock", O_RDONLY | O_CLOEXEC);
        unsigned cid = 0;
        if (fd < 0 || ioctl(fd, IOCTL_VM_SOCKETS_GET_LOCAL_CID, &cid) < 0) {
            say("/dev/vsock: %s", strerror(errno));
            return 1;
        }
        printf("%u\n", cid);
        return 0;
    }
    if (strcmp(mode, "vsock-echo") == 0 && (n == 1 || n == 2)) {
        unsigned port = parse_u32(a[0]);
        int fd = vsock_socket();
        struct sockaddr_vm sa = {
            .svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
        if (bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
            say("bind/listen vsock port %u: %s", port, strerror(errno));
            return 1;
        }
        char what[32];
        snprintf(what, sizeof what, "vsock port %u", port);
        return serve(fd, n == 2 ? (int)parse_u32(a[1]) : 1, what);
    }
    if (strcmp(mode, "vsock-connect") == 0 && n == 2) {
        int fd = vsock_socket();
        struct sockaddr_vm sa = {
            .svm_family = AF_VSOCK, .svm_cid = parse_u32(a[0]), .svm_port = parse_u32(a[1])};
        if (connect(fd, (struct sockaddr*)&sa, sizeof sa) < 0) {
            say("connect vsock %s:%s: %s", a[0], a[1], strerror(errno));
            return 1;
        }
        return pump(fd);
    }
    if (strcmp(mode, "uds-connect") == 0 && n == 2) {
        int fd = uds_connect(a[0], parse_u32(a[1]));
        return fd < 0 ? 1 : pump(fd);
    }
    if (strcmp(mode, "uds-echo") == 0 && (n == 1 || n == 2)) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = unix_addr(a[0]);
        unlink(a[0]);
        if (fd < 0 || bind(fd, (struct sockaddr*)&sa, sizeof sa) < 0 || listen(fd, 16) < 0) {
            say("bind/listen %s: %s", a[0], strerror(errno));
            return 1;
        }
        return serve(fd, n == 2 ? (int)parse_u32(a[1]) : 1, a[0]);
    }
usage:
    fprintf(
        stderr,
        "usage: vsock_tool [--close-after N] [--echo] [--timeout S] vsock-cid | vsock-echo PORT "
        "[COUNT] | vsock-connect CID PORT | uds-connect PATH PORT | uds-echo PATH "
        "[COUNT]\n");
    return 2;
}
