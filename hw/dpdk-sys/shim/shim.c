#include "shim.h"

#include <stddef.h>

#define HP_CHECK_MBUF_FIELD(field, off, type)                                                  \
    _Static_assert(offsetof(struct rte_mbuf, field) == (off),                                 \
                   "struct rte_mbuf: " #field " is not at offset " #off " (shim.h)");          \
    _Static_assert(sizeof(((struct rte_mbuf *)0)->field) == sizeof(type),                     \
                   "struct rte_mbuf: " #field " is not a " #type " (shim.h)")
HP_CHECK_MBUF_FIELD(buf_addr, HP_MBUF_OFF_BUF_ADDR, void *);
HP_CHECK_MBUF_FIELD(data_off, HP_MBUF_OFF_DATA_OFF, uint16_t);
HP_CHECK_MBUF_FIELD(nb_segs, HP_MBUF_OFF_NB_SEGS, uint16_t);
HP_CHECK_MBUF_FIELD(data_len, HP_MBUF_OFF_DATA_LEN, uint16_t);

int hp_rte_errno(void) { return rte_errno; }

unsigned hp_lcore_id(void) { return rte_lcore_id(); }

uint16_t hp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_rx_burst(port, queue, pkts, n);
}

uint16_t hp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n) {
    return rte_eth_tx_burst(port, queue, pkts, n);
}

struct rte_mbuf *hp_mbuf_alloc(struct rte_mempool *pool) { return rte_pktmbuf_alloc(pool); }

void hp_mbuf_free(struct rte_mbuf *m) { rte_pktmbuf_free(m); }

uint8_t *hp_mbuf_append(struct rte_mbuf *m, uint16_t len) {
    return (uint8_t *)rte_pktmbuf_append(m, len);
}

uint16_t hp_mbuf_default_buf_size(void) { return RTE_MBUF_DEFAULT_BUF_SIZE; }
