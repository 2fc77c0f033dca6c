/* A paced statsd load generator for bench/statsd_ingest.py.
 *
 * usage: udp_sender PORT METRICS_PER_SECOND SECONDS METRICS_PER_PACKET
 * Sends counter lines to 127.0.0.1:PORT in batches with sendmmsg(2), paced against
 * the monotonic clock, and prints "sent P packets M metrics in S seconds".
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

enum { BATCH = 1024 };

static double since(const struct timespec *start) {
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - start->tv_sec) + (now.tv_nsec - start->tv_nsec) / 1e9;
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: %s PORT RATE SECONDS PER_PACKET\n", argv[0]);
        return 2;
    }
    int port = atoi(argv[1]);
    double rate = atof(argv[2]), seconds = atof(argv[3]);
    int per = atoi(argv[4]);
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in to = {0};
    to.sin_family = AF_INET;
    to.sin_port = htons(port);
    to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&to, sizeof to) < 0) {
        perror("socket");
        return 1;
    }
    char payload[1400];
    int len = 0;
    for (int i = 0; i < per && len < 1300; i++)
        len += snprintf(payload + len, sizeof payload - len, "%sbench.metric.%d:1|c", i ? "\n" : "", i);
    struct iovec iov[BATCH];
    struct mmsghdr msgs[BATCH];
    memset(msgs, 0, sizeof msgs);
    for (int i = 0; i < BATCH; i++) {
        iov[i].iov_base = payload;
        iov[i].iov_len = len;
        msgs[i].msg_hdr.msg_iov = &iov[i];
        msgs[i].msg_hdr.msg_iovlen = 1;
    }
    long total = (long)(rate * seconds / per), sent = 0;
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (sent < total) {
        long due = (long)(since(&start) * rate / per);
        if (due > total) due = total;
        while (sent < due) {
            int n = due - sent > BATCH ? BATCH : (int)(due - sent);
            int r = sendmmsg(fd, msgs, n, 0);
            if (r <= 0) break;
            sent += r;
        }
        struct timespec pause = {0, 100000};
        nanosleep(&pause, NULL);
    }
    printf("sent %ld packets %ld metrics in %.3f seconds\n", sent, sent * per, since(&start));
    return 0;
}
