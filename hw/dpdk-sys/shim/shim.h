/* hotpath's shim over DPDK's static inline functions and macros, which bindgen cannot
 * bind: each is a real symbol here, compiled against the system headers. */
#ifndef HOTPATH_DPDK_SHIM_H
#define HOTPATH_DPDK_SHIM_H

#include <stdint.h>
#include <rte_config.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_lcore.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ethdev.h>

/* rte_errno of the calling thread. */
int hp_rte_errno(void);
/* rte_lcore_id() of the calling thread (LCORE_ID_ANY for a non-EAL thread). */
unsigned hp_lcore_id(void);
/* rte_eth_rx_burst / rte_eth_tx_burst. */
uint16_t hp_rx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
uint16_t hp_tx_burst(uint16_t port, uint16_t queue, struct rte_mbuf **pkts, uint16_t n);
/* rte_pktmbuf_alloc / rte_pktmbuf_free (one whole chain). */
struct rte_mbuf *hp_mbuf_alloc(struct rte_mempool *pool);
void hp_mbuf_free(struct rte_mbuf *m);
/* Appends len bytes to a fresh single-segment mbuf and returns where to write them
 * (rte_pktmbuf_append), or NULL if they do not fit. */
uint8_t *hp_mbuf_append(struct rte_mbuf *m, uint16_t len);
/* Where the receive path's fields sit in struct rte_mbuf (the first segment's data is
 * buf_addr + data_off, data_len bytes), so that Rust reads them in place instead of
 * calling into the shim for every packet. shim.c checks each one against
 * the system's rte_mbuf.h with a static assertion: a DPDK with another layout fails the
 * build there, naming the field. */
#define HP_MBUF_OFF_BUF_ADDR 0
#define HP_MBUF_OFF_DATA_OFF 16
#define HP_MBUF_OFF_NB_SEGS 20
#define HP_MBUF_OFF_DATA_LEN 40
/* RTE_MBUF_DEFAULT_BUF_SIZE. */
uint16_t hp_mbuf_default_buf_size(void);

#endif
