/* The relay benchmark's two processes: the load (sb-peers, bench_relay.c)
 * and the gateway (media component and RTP echo, relay_gw.c), joined by a
 * SOCK_SEQPACKET socket carrying one message per command or reply. */
#pragma once

/* Runs the gateway side on cmd_fd until told to quit or the socket closes.
 * Returns the process exit status. */
int sb_bench_relay_gateway(int cmd_fd, unsigned n_calls, int port_min, int port_max);
