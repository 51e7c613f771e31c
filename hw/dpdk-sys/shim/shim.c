#include "shim.h"

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

const uint8_t *hp_mbuf_data(const struct rte_mbuf *m, uint16_t *data_len, uint16_t *nb_segs,
                            uint32_t *pkt_len) {
    *data_len = m->data_len;
    *nb_segs = m->nb_segs;
    *pkt_len = m->pkt_len;
    return rte_pktmbuf_mtod(m, const uint8_t *);
}

uint8_t *hp_mbuf_append(struct rte_mbuf *m, uint16_t len) {
    return (uint8_t *)rte_pktmbuf_append(m, len);
}

uint16_t hp_mbuf_default_buf_size(void) { return RTE_MBUF_DEFAULT_BUF_SIZE; }
