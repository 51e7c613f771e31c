//! Book correctness at scale: a generated day of 10 million messages, encoded and
//! decoded as ITCH, applied to hotpath's books and to a simple, obviously correct
//! reference book (BTreeMap/HashMap, in book/tests/common/reference.rs); after every
//! million messages every book must agree: depth of both sides, BBO, the time priority
//! of the orders at the top levels, and the counters.
//!
//! `HOTPATH_BOOK_REF_MESSAGES` overrides the count for quick local runs.

#[path = "../../book/tests/common/reference.rs"]
mod reference;

use hotpath_book::{BookConfig, Books, NullSink, Side};
use hotpath_feed::gen::{to_fields, GenConfig, Generator};
use hotpath_feed::itch::{parse, Message};
use reference::RefBook;

fn messages() -> u64 {
    std::env::var("HOTPATH_BOOK_REF_MESSAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000_000)
}

fn compare(books: &Books, rb: &RefBook, at: u64) {
    let locates = rb.active_locates();
    assert!(!locates.is_empty());
    for &l in &locates {
        for side in [Side::Buy, Side::Sell] {
            let ours: Vec<_> = books.depth(l, side).collect();
            let theirs = rb.depth(l, side);
            assert_eq!(
                ours, theirs,
                "depth of locate {l} {side:?} after {at} messages"
            );
            for lvl in theirs.iter().take(3) {
                let q: Vec<(u64, u32)> = books.orders_at_level(l, side, lvl.price).collect();
                assert_eq!(
                    q,
                    rb.orders_at_level(l, side, lvl.price),
                    "queue of locate {l} {side:?} at {} after {at} messages",
                    lvl.price
                );
            }
        }
        assert_eq!(
            books.bbo(l),
            rb.bbo(l),
            "BBO of locate {l} after {at} messages"
        );
        assert_eq!(books.symbol(l), rb.symbol(l));
    }
    let (a, b) = (books.stats(), rb.stats());
    assert_eq!(a.live_orders, b.live_orders, "live orders after {at}");
    assert_eq!(a.unknown_refs, b.unknown_refs);
    assert_eq!(a.crossed, b.crossed);
}

#[test]
fn ten_million_generated_messages_match_the_reference_book() {
    let n = messages();
    let every = (n / 10).max(1);
    let g = Generator::new(GenConfig {
        messages: n,
        seed: 2026,
        symbols: 100,
        live_target: None,
    })
    .unwrap();
    let mut books = Books::new(BookConfig {
        order_capacity: 1 << 21,
        max_levels: 1 << 21,
        ..BookConfig::default()
    });
    let mut rb = RefBook::new(1 << 16);
    let mut buf = [0u8; 64];
    let mut count = 0u64;
    let mut checks = 0;
    for (ts, ev) in g {
        let len = to_fields(ts, &ev).encode_into(&mut buf);
        let m = parse(&buf[..len]).expect("the generator writes valid ITCH");
        let locate = m.stock_locate();
        match m {
            Message::AddOrder(a) => {
                let side = a.side().unwrap();
                books.add(
                    locate,
                    a.order_ref(),
                    side,
                    a.shares(),
                    a.price(),
                    ts,
                    &mut NullSink,
                );
                rb.add(locate, a.order_ref(), side, a.shares(), a.price());
            }
            Message::AddOrderMpid(a) => {
                let side = a.side().unwrap();
                books.add(
                    locate,
                    a.order_ref(),
                    side,
                    a.shares(),
                    a.price(),
                    ts,
                    &mut NullSink,
                );
                rb.add(locate, a.order_ref(), side, a.shares(), a.price());
            }
            Message::OrderExecuted(e) => {
                books.execute(
                    locate,
                    e.order_ref(),
                    e.executed_shares(),
                    ts,
                    &mut NullSink,
                );
                rb.execute(locate, e.order_ref(), e.executed_shares());
            }
            Message::OrderExecutedWithPrice(c) => {
                books.execute_with_price(
                    locate,
                    c.order_ref(),
                    c.executed_shares(),
                    c.execution_price(),
                    ts,
                    &mut NullSink,
                );
                rb.execute_with_price(
                    locate,
                    c.order_ref(),
                    c.executed_shares(),
                    c.execution_price(),
                );
            }
            Message::OrderCancel(x) => {
                books.cancel(
                    locate,
                    x.order_ref(),
                    x.cancelled_shares(),
                    ts,
                    &mut NullSink,
                );
                rb.cancel(locate, x.order_ref(), x.cancelled_shares());
            }
            Message::OrderDelete(d) => {
                books.delete(locate, d.order_ref(), ts, &mut NullSink);
                rb.delete(locate, d.order_ref());
            }
            Message::OrderReplace(u) => {
                books.replace(
                    locate,
                    u.original_order_ref(),
                    u.new_order_ref(),
                    u.shares(),
                    u.price(),
                    ts,
                    &mut NullSink,
                );
                rb.replace(
                    locate,
                    u.original_order_ref(),
                    u.new_order_ref(),
                    u.shares(),
                    u.price(),
                );
            }
            Message::StockDirectory(r) => {
                books.stock_directory(locate, r.stock());
                rb.stock_directory(locate, r.stock());
            }
            Message::StockTradingAction(h) => {
                books.trading_action(locate, h.trading_state(), ts, &mut NullSink);
                rb.trading_action(locate, h.trading_state());
            }
            _ => {}
        }
        count += 1;
        if count.is_multiple_of(every) {
            compare(&books, &rb, count);
            checks += 1;
        }
    }
    assert_eq!(count, n);
    compare(&books, &rb, count);
    assert!(checks >= 10);
    assert_eq!(books.stats().unknown_refs, 0);
    assert!(books.stats().live_orders > 10_000, "a populated day");
}
