/* Per-leg RTP reception statistics of the relay worker (relay.c), in a header of their own (no Node-API)
 * so that the fuzz harness (fuzz/packet-fuzz.c) runs the very code drain() runs on received octets. */
#ifndef KSBC_RTP_STATS_H
#define KSBC_RTP_STATS_H

#include <stdint.h>

/* Reception statistics of RFC 3550 Appendix A.1 (sequence validation, loss) and A.8 (jitter), as
 * lib/media/rtp/rtp-stats.ts computes them for the TypeScript relay. */
#define RTP_SEQ_MOD (1u << 16)
#define MAX_DROPOUT 3000
#define MAX_MISORDER 100
#define MIN_SEQUENTIAL 2
typedef struct rtp_stats {
  uint16_t max_seq;
  uint8_t started, have_transit; /* flags as octets: the struct is per leg, 32 octets */
  uint32_t cycles, base_seq, bad_seq, probation, received;
  int32_t transit, jitter_q4;
} rtp_stats;

static inline void rs_init_seq(rtp_stats *s, uint16_t seq) {
  s->base_seq = seq;
  s->max_seq = seq;
  s->bad_seq = RTP_SEQ_MOD + 1;
  s->cycles = 0;
  s->received = 0;
}

/* RFC 3550 A.1 update_seq; 0 when the packet is not (yet) counted. */
static inline int rs_update_seq(rtp_stats *s, uint16_t seq) {
  uint16_t udelta = (uint16_t)(seq - s->max_seq);
  if (s->probation) {
    if (seq == (uint16_t)(s->max_seq + 1)) {
      s->probation--;
      s->max_seq = seq;
      if (s->probation == 0) {
        rs_init_seq(s, seq);
        s->received++;
        return 1;
      }
    } else {
      s->probation = MIN_SEQUENTIAL - 1;
      s->max_seq = seq;
    }
    return 0;
  }
  if (udelta < MAX_DROPOUT) {
    if (seq < s->max_seq) s->cycles += RTP_SEQ_MOD;
    s->max_seq = seq;
  } else if (udelta <= RTP_SEQ_MOD - MAX_MISORDER) {
    if (seq == s->bad_seq) rs_init_seq(s, seq);
    else {
      s->bad_seq = (seq + 1) & (RTP_SEQ_MOD - 1);
      return 0;
    }
  }
  s->received++;
  return 1;
}

/* One RTP packet: `arrival` in timestamp units. */
static inline void rs_update(rtp_stats *s, const unsigned char *p, uint32_t arrival) {
  uint16_t seq = (uint16_t)(p[2] << 8 | p[3]);
  uint32_t ts = (uint32_t)p[4] << 24 | (uint32_t)p[5] << 16 | (uint32_t)p[6] << 8 | p[7];
  if (!s->started) {
    s->started = 1;
    rs_init_seq(s, seq);
    s->max_seq = (uint16_t)(seq - 1);
    s->probation = MIN_SEQUENTIAL;
  }
  if (!rs_update_seq(s, seq)) return;
  int32_t transit = (int32_t)(arrival - ts);
  if (s->have_transit) {
    /* |D| with D taken modulo 2^32 as a signed 32-bit number (what a wrapping timestamp needs), computed
     * unsigned: the peer picks the timestamps, so a signed difference, its negation and the sum below
     * could overflow (undefined behaviour, and a negative jitter). The estimate saturates at INT32_MAX
     * (jitter 2^27 timestamp units, hours of audio): only nonsense timestamps reach it. */
    uint32_t diff = (uint32_t)transit - (uint32_t)s->transit;
    int64_t d = diff > 0x80000000u ? (int64_t)(0x100000000ull - diff) : (int64_t)diff;
    int64_t j = (int64_t)s->jitter_q4 + d - (((int64_t)s->jitter_q4 + 8) >> 4);
    s->jitter_q4 = j > INT32_MAX ? INT32_MAX : (int32_t)j;
  }
  s->transit = transit;
  s->have_transit = 1;
}

#endif
