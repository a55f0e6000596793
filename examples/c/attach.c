/*
 * attach.c - minimal C client for the memfd-pool attach socket
 * (docs/attach-protocol.md). C99 + POSIX + Linux, no dependencies.
 *
 *   cc -O2 -Wall -Wextra -o attach examples/c/attach.c
 *
 *   attach [--dump] [--unsealed] SOCKET_PATH BUFFER_ID TOKEN
 *
 * Connects, sends {"op":"attach","buffer":ID,"token":TOKEN,"mode":"r"}, receives
 * the reply and its read-only descriptor (SCM_RIGHTS), maps it PROT_READ and
 * MAP_SHARED, and prints "fnv1a64 <16 hex digits> size <bytes>" (FNV-1a, 64-bit,
 * over every byte) on stdout, or with --dump writes the raw bytes to stdout.
 * A buffer that is not sealed yet is refused (BUFFER_NOT_SEALED) unless
 * --unsealed adds "unsealed":true: its bytes may still change while mapped.
 *
 * Exit status: 0 success; 1 the server answered {"ok":false} (its code and
 * message on stderr); 2 usage; 3 protocol or system error.
 *
 * The descriptor number this process receives is its own: the kernel installs a
 * new descriptor for the same memory. It means nothing in any other process.
 */
#define _GNU_SOURCE /* MSG_CMSG_CLOEXEC, SOCK_CLOEXEC, MSG_NOSIGNAL */

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <unistd.h>

#define MAX_MESSAGE (64 * 1024) /* requests and replies: at most 64 KiB of JSON */
#define MAX_FDS_SEEN 16         /* room to see (and close) fds a reply should not carry */
#define MAX_ID_LEN 256

enum { EXIT_OK = 0, EXIT_REFUSED = 1, EXIT_USAGE = 2, EXIT_FAILED = 3 };

static const char *prog = "attach";

/* ---- a tiny JSON reader: just enough to find top-level members safely ---- */

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
        p++;
    return p;
}

/* p at '"'; returns the char after the closing quote, or NULL. */
static const char *skip_string(const char *p, const char *end)
{
    if (p >= end || *p != '"')
        return NULL;
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            if (p >= end)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        }
    }
    return NULL;
}

static const char *skip_value(const char *p, const char *end, int depth)
{
    p = skip_ws(p, end);
    if (p >= end || depth > 64)
        return NULL;
    if (*p == '"')
        return skip_string(p, end);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = skip_ws(p + 1, end);
        if (p < end && *p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                p = skip_string(skip_ws(p, end), end);
                if (!p)
                    return NULL;
                p = skip_ws(p, end);
                if (p >= end || *p != ':')
                    return NULL;
                p++;
            }
            p = skip_value(p, end, depth + 1);
            if (!p)
                return NULL;
            p = skip_ws(p, end);
            if (p >= end)
                return NULL;
            if (*p == close)
                return p + 1;
            if (*p != ',')
                return NULL;
            p++;
        }
    }
    /* number, true, false, null */
    const char *start = p;
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' && *p != '\t' &&
           *p != '\n' && *p != '\r')
        p++;
    return p > start ? p : NULL;
}

/* obj at '{'. Finds member `key` (compared raw, so only for plain ASCII keys)
 * and returns a pointer to its value, or NULL if absent or malformed. */
static const char *json_member(const char *obj, const char *end, const char *key)
{
    size_t klen = strlen(key);
    const char *p = skip_ws(obj, end);
    if (p >= end || *p != '{')
        return NULL;
    p = skip_ws(p + 1, end);
    if (p < end && *p == '}')
        return NULL;
    for (;;) {
        const char *k = skip_ws(p, end);
        const char *kend = skip_string(k, end);
        if (!kend)
            return NULL;
        p = skip_ws(kend, end);
        if (p >= end || *p != ':')
            return NULL;
        const char *v = skip_ws(p + 1, end);
        if ((size_t)(kend - k) == klen + 2 && memcmp(k + 1, key, klen) == 0)
            return v;
        p = skip_ws(skip_value(v, end, 1), end);
        if (!p || p >= end || *p != ',')
            return NULL;
        p++;
    }
}

static int json_is_literal(const char *v, const char *end, const char *lit)
{
    size_t n = strlen(lit);
    return v && (size_t)(end - v) >= n && memcmp(v, lit, n) == 0;
}

/* Prints a JSON string value (escapes left as they are) to stderr. */
static void print_json_string(const char *v, const char *end)
{
    const char *e = v ? skip_string(v, end) : NULL;
    if (!e)
        fputs("?", stderr);
    else
        fwrite(v + 1, 1, (size_t)(e - v - 2), stderr);
}

/* ---- helpers ---- */

static int valid_token(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_ID_LEN)
        return 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == '~'))
            return 0;
    }
    return 1;
}

static void close_fds(int *fds, int n)
{
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0)
            close(fds[i]);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: %s [--dump] [--unsealed] SOCKET_PATH BUFFER_ID TOKEN\n"
            "  attaches the buffer read-only over the memfd-pool attach socket and prints\n"
            "  \"fnv1a64 <16 hex> size <n>\", or with --dump writes its bytes to stdout;\n"
            "  --unsealed also reads a buffer that is not sealed yet\n",
            prog);
    return EXIT_USAGE;
}

int main(int argc, char **argv)
{
    const char *pos[3];
    int npos = 0, dump = 0, unsealed = 0;
    int sock = -1, fd = -1, status = EXIT_FAILED;
    int fds[MAX_FDS_SEEN];
    int nfds = 0;
    char *reply = NULL;

    if (argc > 0 && argv[0] && argv[0][0])
        prog = argv[0];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dump") == 0)
            dump = 1;
        else if (strcmp(argv[i], "--unsealed") == 0)
            unsealed = 1;
        else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
            return usage(), EXIT_OK;
        else if (npos < 3)
            pos[npos++] = argv[i];
        else
            return usage();
    }
    if (npos != 3)
        return usage();
    const char *path = pos[0], *id = pos[1], *token = pos[2];
    if (!valid_token(id) || !valid_token(token)) {
        fprintf(stderr, "%s: BUFFER_ID and TOKEN must be 1-%d characters of [A-Za-z0-9._~-]\n",
                prog, MAX_ID_LEN);
        return EXIT_USAGE;
    }

    /* -- connect -- */
    struct sockaddr_un addr;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path) {
        fprintf(stderr, "%s: socket path longer than %zu bytes\n", prog,
                sizeof addr.sun_path - 1);
        return EXIT_USAGE;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);

    sock = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (sock < 0) {
        fprintf(stderr, "%s: socket: %s\n", prog, strerror(errno));
        goto out;
    }
    if (connect(sock, (struct sockaddr *)&addr, sizeof addr) < 0) {
        fprintf(stderr, "%s: connect %s: %s\n", prog, path, strerror(errno));
        goto out;
    }

    /* -- request: one message, no descriptors -- */
    char req[2 * MAX_ID_LEN + 128];
    int len = snprintf(req, sizeof req,
                       "{\"op\":\"attach\",\"buffer\":\"%s\",\"token\":\"%s\",\"mode\":\"r\"%s}",
                       id, token, unsealed ? ",\"unsealed\":true" : "");
    if (len < 0 || (size_t)len >= sizeof req) {
        fprintf(stderr, "%s: request does not fit\n", prog);
        goto out;
    }
    int send_errno = 0;
    for (;;) {
        ssize_t s = send(sock, req, (size_t)len, MSG_NOSIGNAL);
        if (s < 0 && errno == EINTR)
            continue;
        if (s < 0)
            send_errno = errno;
        else if (s != len) {
            fprintf(stderr, "%s: short send (%zd of %d bytes)\n", prog, s, len);
            goto out;
        }
        break;
    }

    /* -- reply: one message, maybe one descriptor -- */
    reply = malloc(MAX_MESSAGE + 1);
    if (!reply) {
        fprintf(stderr, "%s: out of memory\n", prog);
        goto out;
    }
    union {
        struct cmsghdr align; /* the control buffer must be aligned for cmsghdr */
        char buf[CMSG_SPACE(sizeof(int) * MAX_FDS_SEEN)];
    } control;
    memset(&control, 0, sizeof control);
    struct iovec iov = { .iov_base = reply, .iov_len = MAX_MESSAGE + 1 };
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;

    /* After EPIPE the server may already have refused us (PEER_NOT_ALLOWED) and left
     * its reply queued: read it without blocking, it says more than EPIPE. */
    int rflags = MSG_CMSG_CLOEXEC | (send_errno ? MSG_DONTWAIT : 0);
    ssize_t n;
    do
        n = recvmsg(sock, &msg, rflags);
    while (n < 0 && errno == EINTR);
    if (n < 0 && errno == ECONNRESET) {
        /* The server hung up with our request unread: the kernel reports ECONNRESET
         * first, but the server's last reply may still be queued behind it. */
        msg.msg_controllen = sizeof control.buf;
        msg.msg_flags = 0;
        n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
        if (n < 0)
            errno = ECONNRESET;
    }

    /* Take every descriptor that arrived, whatever else is wrong with the message. */
    if (n >= 0) {
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
            if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                continue;
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t i = 0; i < count; i++) {
                int got;
                memcpy(&got, CMSG_DATA(c) + i * sizeof(int), sizeof got);
                if (nfds < MAX_FDS_SEEN)
                    fds[nfds++] = got;
                else
                    close(got); /* unreachable: the buffer holds MAX_FDS_SEEN */
            }
        }
    }
    if (n < 0) {
        if (send_errno)
            fprintf(stderr, "%s: send: %s\n", prog, strerror(send_errno));
        else
            fprintf(stderr, "%s: recvmsg: %s\n", prog, strerror(errno));
        goto out;
    }
    if (msg.msg_flags & MSG_CTRUNC) {
        fprintf(stderr, "%s: PROTOCOL_ERROR: control data truncated (MSG_CTRUNC), "
                        "descriptors were lost\n", prog);
        goto out;
    }
    if ((msg.msg_flags & MSG_TRUNC) || n > MAX_MESSAGE) {
        fprintf(stderr, "%s: PROTOCOL_ERROR: reply larger than %d bytes\n", prog, MAX_MESSAGE);
        goto out;
    }
    if (n == 0 && nfds == 0) {
        fprintf(stderr, "%s: CONNECTION_CLOSED: the server closed the connection%s%s\n", prog,
                send_errno ? ": " : "", send_errno ? strerror(send_errno) : "");
        goto out;
    }
    const char *end = reply + n;
    const char *ok = json_member(reply, end, "ok");
    if (json_is_literal(ok, end, "false")) {
        const char *err = json_member(reply, end, "error");
        fprintf(stderr, "%s: ", prog);
        print_json_string(err ? json_member(err, end, "code") : NULL, end);
        fputs(": ", stderr);
        print_json_string(err ? json_member(err, end, "message") : NULL, end);
        fputc('\n', stderr);
        if (nfds)
            fprintf(stderr, "%s: (the error reply carried %d descriptor(s); closed)\n", prog,
                    nfds);
        status = EXIT_REFUSED;
        goto out;
    }
    if (!json_is_literal(ok, end, "true") || !skip_value(reply, end, 0)) {
        fprintf(stderr, "%s: PROTOCOL_ERROR: reply is not an object with \"ok\": %.*s\n", prog,
                (int)(n > 200 ? 200 : n), reply);
        goto out;
    }
    if (nfds != 1) {
        fprintf(stderr, "%s: PROTOCOL_ERROR: reply carried %d descriptors, expected 1\n", prog,
                nfds);
        goto out;
    }
    fd = fds[0];
    fds[0] = -1;
    nfds = 0;
    close(sock); /* nothing more to ask */
    sock = -1;

    /* -- map and read -- */
    int fl = fcntl(fd, F_GETFL);
    if (fl >= 0 && (fl & O_ACCMODE) != O_RDONLY)
        fprintf(stderr, "%s: warning: asked for mode r but the descriptor is writable\n", prog);
    struct stat st;
    if (fstat(fd, &st) < 0) {
        fprintf(stderr, "%s: fstat: %s\n", prog, strerror(errno));
        goto out;
    }
    if (st.st_size < 0 || (uintmax_t)st.st_size > (uintmax_t)SIZE_MAX) {
        fprintf(stderr, "%s: size %jd does not fit in memory\n", prog, (intmax_t)st.st_size);
        goto out;
    }
    size_t size = (size_t)st.st_size;
    const unsigned char *data = NULL;
    void *map = MAP_FAILED;
    if (size > 0) { /* mmap of length 0 is EINVAL */
        map = mmap(NULL, size, PROT_READ, MAP_SHARED, fd, 0);
        if (map == MAP_FAILED && errno == EPERM) /* before Linux 6.7 on a write-sealed memfd */
            map = mmap(NULL, size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (map == MAP_FAILED) {
            fprintf(stderr, "%s: mmap: %s\n", prog, strerror(errno));
            goto out;
        }
        data = map;
    }
    close(fd); /* the mapping keeps the memory alive by itself */
    fd = -1;

    if (dump) {
        if (size > 0 && write_all(STDOUT_FILENO, data, size) < 0) {
            fprintf(stderr, "%s: write: %s\n", prog, strerror(errno));
            munmap(map, size);
            goto out;
        }
    } else {
        uint64_t h = UINT64_C(0xcbf29ce484222325);
        for (size_t i = 0; i < size; i++) {
            h ^= data[i];
            h *= UINT64_C(0x100000001b3);
        }
        printf("fnv1a64 %016" PRIx64 " size %ju\n", h, (uintmax_t)size);
    }
    if (size > 0)
        munmap(map, size);
    if (fflush(stdout) != 0) {
        fprintf(stderr, "%s: stdout: %s\n", prog, strerror(errno));
        goto out;
    }
    status = EXIT_OK;

out:
    close_fds(fds, nfds);
    if (fd >= 0)
        close(fd);
    if (sock >= 0)
        close(sock);
    free(reply);
    return status;
}
