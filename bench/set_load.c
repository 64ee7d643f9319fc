/*
 * Fixed-rate SET load for the GET-under-write-load case.
 *
 * redis-benchmark is closed-loop: each of its clients sends its next request
 * once the last reply is in. A second redis-benchmark as the write load
 * therefore writes as fast as the server under test lets it, and two servers
 * get different loads. It also keeps the client CPU busy all the time, so the
 * GET client's tail measures the time slices the two generators take from each
 * other (the `appendfsync no` control shows it). This generator is open-loop:
 * it sends RATE SETs a second, spread over CLIENTS connections in 1 ms ticks,
 * whatever the replies do, so both servers take the same writes, and it sleeps
 * between ticks.
 *
 *   cc -O2 -o set_load set_load.c
 *   set_load PORT RATE CLIENTS KEYSPACE VALUE_SIZE
 *
 * Keys are "key:%012d" over KEYSPACE, as redis-benchmark -r makes them. It runs
 * until SIGTERM or SIGINT, then prints "sent N replies M behind B" on stdout:
 * B counts the ticks' SETs it could not send because a connection had MAX_OWED
 * replies outstanding (a server that fell that far behind sheds the load, and
 * the count says so).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS 256
#define MAX_OWED 1000
#define TICK_NS 1000000L
/* The largest request: the key and VALUE_SIZE bytes with their framing. */
#define REQ_MAX (4096 + 96)

static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
    (void)sig;
    stopping = 1;
}

static int64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000L + ts.tv_nsec;
}

static int connect_to(int port) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = htons(port)};
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
        close(fd);
        return -1;
    }
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

/* Writes all of buf; the requests are small, so a full socket buffer is a server
 * that stopped reading, and the generator waits for it like any client would. */
static int write_all(int fd, const char *buf, size_t len) {
    while (len > 0) {
        ssize_t n = write(fd, buf, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        buf += n;
        len -= (size_t)n;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc != 6) {
        fprintf(stderr, "usage: set_load PORT RATE CLIENTS KEYSPACE VALUE_SIZE\n");
        return 2;
    }
    int port = atoi(argv[1]);
    long rate = atol(argv[2]);
    int clients = atoi(argv[3]);
    long keyspace = atol(argv[4]);
    int size = atoi(argv[5]);
    if (port <= 0 || rate <= 0 || clients <= 0 || clients > MAX_CLIENTS || keyspace <= 0 ||
        size <= 0 || size > 4096) {
        fprintf(stderr, "set_load: bad arguments\n");
        return 2;
    }
    signal(SIGTERM, on_signal);
    signal(SIGINT, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct pollfd fds[MAX_CLIENTS];
    long owed[MAX_CLIENTS];
    for (int i = 0; i < clients; i++) {
        fds[i].fd = connect_to(port);
        fds[i].events = POLLIN;
        owed[i] = 0;
        if (fds[i].fd < 0) {
            perror("set_load: connect");
            return 1;
        }
    }
    char value[4097];
    memset(value, 'x', (size_t)size);
    value[size] = 0;

    uint64_t seed = 0x9E3779B97F4A7C15ull;
    long long sent = 0, replies = 0, behind = 0;
    int next = 0;
    int64_t start = now_ns(), tick = start;
    static char req[MAX_CLIENTS][64 * REQ_MAX];
    char in[65536];
    while (!stopping) {
        /* Everything due up to now, round robin over the connections, one write each. */
        long long due = (long long)((now_ns() - start) / 1000 * rate / 1000000) - sent - behind;
        size_t fill[MAX_CLIENTS] = {0};
        for (long long k = 0; k < due; k++) {
            int c = next;
            next = (next + 1) % clients;
            if (owed[c] >= MAX_OWED || fill[c] + REQ_MAX > sizeof req[c]) {
                behind++;
                continue;
            }
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            char key[32];
            int klen = snprintf(key, sizeof key, "key:%012llu",
                                (unsigned long long)(seed % (uint64_t)keyspace));
            fill[c] += (size_t)snprintf(req[c] + fill[c], sizeof req[c] - fill[c],
                                        "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n",
                                        klen, key, size, value);
            owed[c]++;
            sent++;
        }
        for (int c = 0; c < clients; c++) {
            if (fill[c] > 0 && write_all(fds[c].fd, req[c], fill[c]) != 0) {
                perror("set_load: write");
                return 1;
            }
        }
        /* Read replies until the next tick; a reply is one line (+OK or an error). */
        tick += TICK_NS;
        for (;;) {
            int64_t wait_ns = tick - now_ns();
            if (wait_ns <= 0 || stopping)
                break;
            struct timespec wait = {.tv_sec = 0, .tv_nsec = wait_ns};
            int ready = ppoll(fds, (nfds_t)clients, &wait, NULL);
            if (ready < 0 && errno != EINTR) {
                perror("set_load: poll");
                return 1;
            }
            for (int i = 0; ready > 0 && i < clients; i++) {
                if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                    continue;
                ssize_t n = read(fds[i].fd, in, sizeof in);
                if (n <= 0) {
                    fprintf(stderr, "set_load: connection %d closed\n", i);
                    return 1;
                }
                for (ssize_t j = 0; j < n; j++) {
                    if (in[j] == '\n') {
                        owed[i]--;
                        replies++;
                    }
                }
            }
        }
        if (now_ns() - tick > 100 * TICK_NS)
            tick = now_ns(); /* descheduled for long: do not try to catch up in ticks */
    }
    printf("sent %lld replies %lld behind %lld\n", sent, replies, behind);
    return 0;
}
