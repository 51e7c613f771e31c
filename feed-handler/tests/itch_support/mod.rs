//! Shared by the `itch_*` integration tests: the real data file, a generator of random
//! spec-valid messages, and a field-by-field comparison with the `itchy` crate.
#![allow(dead_code)] // each test binary uses a different part

use hotpath_book::Side;
use hotpath_feed::itch::encode::*;
use hotpath_feed::itch::Message;

/// The real ITCH 5.0 sample: 1000 messages from 09:30 on 2019-12-30 (see
/// shared/data/README.md).
pub const REAL_FILE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../shared/data/itch50/12302019_0930_first1000.itch"
);

/// Reads the real file; a missing file fails the test, naming the path.
pub fn real_file() -> Vec<u8> {
    match std::fs::read(REAL_FILE) {
        Ok(b) => b,
        Err(e) => panic!(
            "cannot read the real ITCH sample {REAL_FILE}: {e} \
             (expected at ../shared/data relative to the project root)"
        ),
    }
}

// ---- Random messages -------------------------------------------------------------------

// Values the specification allows for each Alpha code (all also accepted by itchy).
pub const EVENT_CODES: &[u8] = b"OSQMEC";
pub const MARKET_CATEGORIES: &[u8] = b"QGSNAPZV ";
pub const FINANCIAL_STATUS: &[u8] = b"DEQSGHJKCN ";
pub const ISSUE_CLASSIFICATIONS: &[u8] = b"ABCFILNOPQRSTUVW";
pub const ISSUE_SUB_TYPES: &[[u8; 2]] = &[*b"A ", *b"AI", *b"C ", *b"CB", *b"PP", *b"WC", *b"Z "];
pub const AUTHENTICITY: &[u8] = b"PT";
pub const YES_NO: &[u8] = b"YN";
pub const YES_NO_SPACE: &[u8] = b"YN ";
pub const LULD_TIERS: &[u8] = b"12 ";
pub const TRADING_STATES: &[u8] = b"HPQT";
pub const REG_SHO_ACTIONS: &[u8] = b"012";
pub const MARKET_MAKER_MODES: &[u8] = b"NPSRL";
pub const PARTICIPANT_STATES: &[u8] = b"AEWSD";
pub const BREACHED_LEVELS: &[u8] = b"123";
pub const IPO_QUALIFIERS: &[u8] = b"AC";
pub const MARKET_CODES: &[u8] = b"QBX";
pub const HALT_ACTIONS: &[u8] = b"HT";
pub const CROSS_TYPES_TRADE: &[u8] = b"OCHIA";
pub const CROSS_TYPES_NOII: &[u8] = b"OCHA";
pub const IMBALANCE_DIRECTIONS: &[u8] = b"BSNO";
pub const PRICE_VARIATIONS: &[u8] = b"L123456789ABC ";
pub const INTEREST_FLAGS: &[u8] = b"BSAN";
const SYMBOL_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.";

/// A deterministic source of field values (splitmix64), biased towards the edges
/// (0, small, maximum) where encoding mistakes show.
pub struct Gen(u64);

impl Gen {
    pub fn new(seed: u64) -> Gen {
        Gen(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// A value of `bits` bits, often 0, small or all ones.
    fn edgy(&mut self, bits: u32) -> u64 {
        let max = if bits == 64 {
            u64::MAX
        } else {
            (1 << bits) - 1
        };
        match self.below(8) {
            0 => 0,
            1 => max,
            2 => self.next_u64() % 256,
            _ => self.next_u64() & max,
        }
    }

    pub fn u16(&mut self) -> u16 {
        self.edgy(16) as u16
    }
    pub fn u32(&mut self) -> u32 {
        self.edgy(32) as u32
    }
    pub fn u64(&mut self) -> u64 {
        self.edgy(64)
    }
    /// A 6-byte timestamp.
    pub fn timestamp(&mut self) -> u64 {
        self.edgy(48)
    }
    pub fn byte(&mut self) -> u8 {
        self.next_u64() as u8
    }
    pub fn pick(&mut self, set: &[u8]) -> u8 {
        set[self.below(set.len())]
    }
    pub fn pick2(&mut self, set: &[[u8; 2]]) -> [u8; 2] {
        set[self.below(set.len())]
    }
    pub fn side(&mut self) -> Side {
        if self.below(2) == 0 {
            Side::Buy
        } else {
            Side::Sell
        }
    }
    /// 1 to N symbol characters, space-padded (ASCII, as itchy requires).
    pub fn alpha<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [b' '; N];
        let n = 1 + self.below(N);
        for c in &mut out[..n] {
            *c = self.pick(SYMBOL_CHARS);
        }
        out
    }

    /// A random message of type `ty`, every field random (Alpha codes spec-valid).
    pub fn message(&mut self, ty: u8) -> MessageFields {
        let stock_locate = self.u16();
        let tracking_number = self.u16();
        let timestamp = self.timestamp();
        macro_rules! make {
            ($t:ident { $($f:ident : $v:expr),* $(,)? }) => {
                MessageFields::from($t {
                    stock_locate,
                    tracking_number,
                    timestamp,
                    $($f: $v,)*
                })
            };
        }
        match ty {
            b'S' => make!(SystemEventFields {
                event_code: self.pick(EVENT_CODES)
            }),
            b'R' => make!(StockDirectoryFields {
                stock: self.alpha(),
                market_category: self.pick(MARKET_CATEGORIES),
                financial_status_indicator: self.pick(FINANCIAL_STATUS),
                round_lot_size: self.u32(),
                round_lots_only: self.pick(YES_NO),
                issue_classification: self.pick(ISSUE_CLASSIFICATIONS),
                issue_sub_type: self.pick2(ISSUE_SUB_TYPES),
                authenticity: self.pick(AUTHENTICITY),
                short_sale_threshold_indicator: self.pick(YES_NO_SPACE),
                ipo_flag: self.pick(YES_NO_SPACE),
                luld_reference_price_tier: self.pick(LULD_TIERS),
                etp_flag: self.pick(YES_NO_SPACE),
                etp_leverage_factor: self.u32(),
                inverse_indicator: self.pick(YES_NO),
            }),
            b'H' => make!(StockTradingActionFields {
                stock: self.alpha(),
                trading_state: self.pick(TRADING_STATES),
                reserved: self.byte(),
                reason: self.alpha(),
            }),
            b'Y' => make!(RegShoRestrictionFields {
                stock: self.alpha(),
                reg_sho_action: self.pick(REG_SHO_ACTIONS),
            }),
            b'L' => make!(MarketParticipantPositionFields {
                mpid: self.alpha(),
                stock: self.alpha(),
                primary_market_maker: self.pick(YES_NO),
                market_maker_mode: self.pick(MARKET_MAKER_MODES),
                market_participant_state: self.pick(PARTICIPANT_STATES),
            }),
            b'V' => make!(MwcbDeclineLevelFields {
                level_1: self.u64(),
                level_2: self.u64(),
                level_3: self.u64(),
            }),
            b'W' => make!(MwcbStatusFields {
                breached_level: self.pick(BREACHED_LEVELS)
            }),
            b'K' => make!(IpoQuotingPeriodUpdateFields {
                stock: self.alpha(),
                ipo_quotation_release_time: self.u32(),
                ipo_quotation_release_qualifier: self.pick(IPO_QUALIFIERS),
                ipo_price: self.u32(),
            }),
            b'J' => make!(LuldAuctionCollarFields {
                stock: self.alpha(),
                auction_collar_reference_price: self.u32(),
                upper_auction_collar_price: self.u32(),
                lower_auction_collar_price: self.u32(),
                auction_collar_extension: self.u32(),
            }),
            b'h' => make!(OperationalHaltFields {
                stock: self.alpha(),
                market_code: self.pick(MARKET_CODES),
                operational_halt_action: self.pick(HALT_ACTIONS),
            }),
            b'A' => make!(AddOrderFields {
                order_ref: self.u64(),
                side: self.side(),
                shares: self.u32(),
                stock: self.alpha(),
                price: self.u32(),
            }),
            b'F' => make!(AddOrderMpidFields {
                order_ref: self.u64(),
                side: self.side(),
                shares: self.u32(),
                stock: self.alpha(),
                price: self.u32(),
                attribution: self.alpha(),
            }),
            b'E' => make!(OrderExecutedFields {
                order_ref: self.u64(),
                executed_shares: self.u32(),
                match_number: self.u64(),
            }),
            b'C' => make!(OrderExecutedWithPriceFields {
                order_ref: self.u64(),
                executed_shares: self.u32(),
                match_number: self.u64(),
                printable: self.pick(YES_NO),
                execution_price: self.u32(),
            }),
            b'X' => make!(OrderCancelFields {
                order_ref: self.u64(),
                cancelled_shares: self.u32(),
            }),
            b'D' => make!(OrderDeleteFields {
                order_ref: self.u64()
            }),
            b'U' => make!(OrderReplaceFields {
                original_order_ref: self.u64(),
                new_order_ref: self.u64(),
                shares: self.u32(),
                price: self.u32(),
            }),
            b'P' => make!(NonCrossTradeFields {
                order_ref: self.u64(),
                side: self.side(),
                shares: self.u32(),
                stock: self.alpha(),
                price: self.u32(),
                match_number: self.u64(),
            }),
            b'Q' => make!(CrossTradeFields {
                shares: self.u64(),
                stock: self.alpha(),
                cross_price: self.u32(),
                match_number: self.u64(),
                cross_type: self.pick(CROSS_TYPES_TRADE),
            }),
            b'B' => make!(BrokenTradeFields {
                match_number: self.u64()
            }),
            b'I' => make!(NetOrderImbalanceFields {
                paired_shares: self.u64(),
                imbalance_shares: self.u64(),
                imbalance_direction: self.pick(IMBALANCE_DIRECTIONS),
                stock: self.alpha(),
                far_price: self.u32(),
                near_price: self.u32(),
                current_reference_price: self.u32(),
                cross_type: self.pick(CROSS_TYPES_NOII),
                price_variation_indicator: self.pick(PRICE_VARIATIONS),
            }),
            b'N' => make!(RetailPriceImprovementFields {
                stock: self.alpha(),
                interest_flag: self.pick(INTEREST_FLAGS),
            }),
            b'O' => make!(DlcrPriceDiscoveryFields {
                stock: self.alpha(),
                open_eligibility_status: self.pick(YES_NO),
                minimum_allowable_price: self.u32(),
                maximum_allowable_price: self.u32(),
                near_execution_price: self.u32(),
                near_execution_time: self.u64(),
                lower_price_range_collar: self.u32(),
                upper_price_range_collar: self.u32(),
            }),
            other => panic!("no generator for type {other:#04x}"),
        }
    }
}

// ---- Comparison with itchy ---------------------------------------------------------------

/// The types itchy 0.3 decodes (it has no `h` Operational Halt nor `O` DLCR message).
pub const ITCHY_TYPES: &[u8] = b"SRHYLVWKJAFECXDUPQBIN";

fn yn(b: u8) -> bool {
    match b {
        b'Y' => true,
        b'N' => false,
        _ => panic!("not Y/N: {b:#04x}"),
    }
}

fn yn_space(b: u8) -> Option<bool> {
    match b {
        b' ' => None,
        other => Some(yn(other)),
    }
}

fn side(s: itchy::Side) -> Side {
    match s {
        itchy::Side::Buy => Side::Buy,
        itchy::Side::Sell => Side::Sell,
    }
}

fn event_code(e: itchy::EventCode) -> u8 {
    use itchy::EventCode::*;
    match e {
        StartOfMessages => b'O',
        StartOfSystemHours => b'S',
        StartOfMarketHours => b'Q',
        EndOfMarketHours => b'M',
        EndOfSystemHours => b'E',
        EndOfMessages => b'C',
    }
}

fn market_category(c: itchy::MarketCategory) -> u8 {
    use itchy::MarketCategory::*;
    match c {
        NasdaqGlobalSelect => b'Q',
        NasdaqGlobalMarket => b'G',
        NasdaqCapitalMarket => b'S',
        Nyse => b'N',
        NyseMkt => b'A',
        NyseArca => b'P',
        BatsZExchange => b'Z',
        InvestorsExchange => b'V',
        Unavailable => b' ',
    }
}

fn financial_status(s: itchy::FinancialStatus) -> u8 {
    use itchy::FinancialStatus::*;
    match s {
        Normal => b'N',
        Deficient => b'D',
        Delinquent => b'E',
        Bankrupt => b'Q',
        Suspended => b'S',
        DeficientBankrupt => b'G',
        DeficientDelinquent => b'H',
        DelinquentBankrupt => b'J',
        DeficientDelinquentBankrupt => b'K',
        EtpSuspended => b'C',
        Unavailable => b' ',
    }
}

fn issue_classification(c: itchy::IssueClassification) -> u8 {
    use itchy::IssueClassification::*;
    match c {
        AmericanDepositaryShare => b'A',
        Bond => b'B',
        CommonStock => b'C',
        DepositoryReceipt => b'F',
        A144 => b'I',
        LimitedPartnership => b'L',
        Notes => b'N',
        OrdinaryShare => b'O',
        PreferredStock => b'P',
        OtherSecurities => b'Q',
        Right => b'R',
        SharesOfBeneficialInterest => b'S',
        ConvertibleDebenture => b'T',
        Unit => b'U',
        UnitsPerBenifInt => b'V',
        Warrant => b'W',
    }
}

/// Only the sub-types in [`ISSUE_SUB_TYPES`].
fn issue_sub_type(t: itchy::IssueSubType) -> [u8; 2] {
    use itchy::IssueSubType::*;
    match t {
        PreferredTrustSecurities => *b"A ",
        AlphaIndexETNs => *b"AI",
        CommonShares => *b"C ",
        CommodityBasedTrustShares => *b"CB",
        PoisonPill => *b"PP",
        WorldCurrencyOption => *b"WC",
        NotApplicable => *b"Z ",
        other => panic!("issue sub-type {other:?} is not generated"),
    }
}

fn luld_tier(t: itchy::LuldRefPriceTier) -> u8 {
    match t {
        itchy::LuldRefPriceTier::Tier1 => b'1',
        itchy::LuldRefPriceTier::Tier2 => b'2',
        itchy::LuldRefPriceTier::Na => b' ',
    }
}

fn trading_state(s: itchy::TradingState) -> u8 {
    use itchy::TradingState::*;
    match s {
        Halted => b'H',
        Paused => b'P',
        QuotationOnly => b'Q',
        Trading => b'T',
    }
}

fn reg_sho_action(a: itchy::RegShoAction) -> u8 {
    match a {
        itchy::RegShoAction::None => b'0',
        itchy::RegShoAction::Intraday => b'1',
        itchy::RegShoAction::Extant => b'2',
    }
}

fn market_maker_mode(m: itchy::MarketMakerMode) -> u8 {
    use itchy::MarketMakerMode::*;
    match m {
        Normal => b'N',
        Passive => b'P',
        Syndicate => b'S',
        Presyndicate => b'R',
        Penalty => b'L',
    }
}

fn participant_state(s: itchy::MarketParticipantState) -> u8 {
    use itchy::MarketParticipantState::*;
    match s {
        Active => b'A',
        Excused => b'E',
        Withdrawn => b'W',
        Suspended => b'S',
        Deleted => b'D',
    }
}

fn breached_level(l: itchy::LevelBreached) -> u8 {
    match l {
        itchy::LevelBreached::L1 => b'1',
        itchy::LevelBreached::L2 => b'2',
        itchy::LevelBreached::L3 => b'3',
    }
}

fn ipo_qualifier(q: itchy::IpoReleaseQualifier) -> u8 {
    match q {
        itchy::IpoReleaseQualifier::Anticipated => b'A',
        itchy::IpoReleaseQualifier::Cancelled => b'C',
    }
}

fn cross_type(c: itchy::CrossType) -> u8 {
    use itchy::CrossType::*;
    match c {
        Opening => b'O',
        Closing => b'C',
        IpoOrHalted => b'H',
        Intraday => b'I',
        ExtendedTradingClose => b'A',
    }
}

fn imbalance_direction(d: itchy::ImbalanceDirection) -> u8 {
    use itchy::ImbalanceDirection::*;
    match d {
        Buy => b'B',
        Sell => b'S',
        NoImbalance => b'N',
        InsufficientOrders => b'O',
    }
}

fn interest_flag(f: itchy::InterestFlag) -> u8 {
    use itchy::InterestFlag::*;
    match f {
        RPIAvailableBuySide => b'B',
        RPIAvailableSellSide => b'S',
        RPIAvailableBothSides => b'A',
        RPINoneAvailable => b'N',
    }
}

/// Compares every field both decoders expose; panics naming the first difference.
/// Returns how many fields were compared.
pub fn assert_same_as_itchy(index: usize, ours: &Message<'_>, theirs: &itchy::Message) -> usize {
    use itchy::Body;
    let mut n = 0;
    macro_rules! same {
        ($what:expr, $a:expr, $b:expr) => {{
            let (a, b) = ($a, $b);
            assert!(
                a == b,
                "message #{index} ({}): {} differs: hotpath {:?}, itchy {:?}\n  ours: {ours:?}\n  itchy: {theirs:?}",
                ours.name(),
                $what,
                a,
                b
            );
            n += 1;
        }};
    }
    same!("type", ours.msg_type(), theirs.tag);
    same!("stock locate", ours.stock_locate(), theirs.stock_locate);
    same!(
        "tracking number",
        ours.tracking_number(),
        theirs.tracking_number
    );
    same!("timestamp", ours.timestamp(), theirs.timestamp);

    match (ours, &theirs.body) {
        (Message::SystemEvent(m), Body::SystemEvent { event }) => {
            same!("event code", m.event_code(), event_code(*event));
        }
        (Message::StockDirectory(m), Body::StockDirectory(d)) => {
            same!("stock", &m.stock()[..], d.stock.as_bytes());
            same!(
                "market category",
                m.market_category(),
                market_category(d.market_category)
            );
            same!(
                "financial status",
                m.financial_status_indicator(),
                financial_status(d.financial_status)
            );
            same!("round lot size", m.round_lot_size(), d.round_lot_size);
            same!(
                "round lots only",
                yn(m.round_lots_only()),
                d.round_lots_only
            );
            same!(
                "issue classification",
                m.issue_classification(),
                issue_classification(d.issue_classification)
            );
            same!(
                "issue sub-type",
                m.issue_sub_type(),
                issue_sub_type(d.issue_subtype)
            );
            same!("authenticity", m.authenticity() == b'P', d.authenticity);
            same!(
                "short sale threshold",
                yn_space(m.short_sale_threshold_indicator()),
                d.short_sale_threshold
            );
            same!("IPO flag", yn_space(m.ipo_flag()), d.ipo_flag);
            same!(
                "LULD tier",
                m.luld_reference_price_tier(),
                luld_tier(d.luld_ref_price_tier)
            );
            same!("ETP flag", yn_space(m.etp_flag()), d.etp_flag);
            same!(
                "ETP leverage factor",
                m.etp_leverage_factor(),
                d.etp_leverage_factor
            );
            same!(
                "inverse indicator",
                yn(m.inverse_indicator()),
                d.inverse_indicator
            );
        }
        (
            Message::StockTradingAction(m),
            Body::TradingAction {
                stock,
                trading_state: state,
                reason,
            },
        ) => {
            same!("stock", &m.stock()[..], stock.as_bytes());
            same!("trading state", m.trading_state(), trading_state(*state));
            same!("reason", &m.reason()[..], reason.as_bytes());
        }
        (Message::RegShoRestriction(m), Body::RegShoRestriction { stock, action }) => {
            same!("stock", &m.stock()[..], stock.as_bytes());
            same!(
                "Reg SHO action",
                m.reg_sho_action(),
                reg_sho_action(*action)
            );
        }
        (Message::MarketParticipantPosition(m), Body::ParticipantPosition(p)) => {
            same!("MPID", &m.mpid()[..], p.mpid.as_bytes());
            same!("stock", &m.stock()[..], p.stock.as_bytes());
            same!(
                "primary market maker",
                yn(m.primary_market_maker()),
                p.primary_market_maker
            );
            same!(
                "market maker mode",
                m.market_maker_mode(),
                market_maker_mode(p.market_maker_mode)
            );
            same!(
                "market participant state",
                m.market_participant_state(),
                participant_state(p.market_participant_state)
            );
        }
        (
            Message::MwcbDeclineLevel(m),
            Body::MwcbDeclineLevel {
                level1,
                level2,
                level3,
            },
        ) => {
            same!("level 1", m.level_1(), level1.raw());
            same!("level 2", m.level_2(), level2.raw());
            same!("level 3", m.level_3(), level3.raw());
        }
        (Message::MwcbStatus(m), Body::Breach(level)) => {
            same!("breached level", m.breached_level(), breached_level(*level));
        }
        (Message::IpoQuotingPeriodUpdate(m), Body::IpoQuotingPeriod(q)) => {
            same!("stock", &m.stock()[..], q.stock.as_bytes());
            same!(
                "release time",
                m.ipo_quotation_release_time(),
                q.release_time
            );
            same!(
                "release qualifier",
                m.ipo_quotation_release_qualifier(),
                ipo_qualifier(q.release_qualifier)
            );
            same!("IPO price", m.ipo_price(), q.price.raw());
        }
        (
            Message::LuldAuctionCollar(m),
            Body::LULDAuctionCollar {
                stock,
                ref_price,
                upper_price,
                lower_price,
                extension,
            },
        ) => {
            same!("stock", &m.stock()[..], stock.as_bytes());
            same!(
                "reference price",
                m.auction_collar_reference_price(),
                ref_price.raw()
            );
            same!(
                "upper price",
                m.upper_auction_collar_price(),
                upper_price.raw()
            );
            same!(
                "lower price",
                m.lower_auction_collar_price(),
                lower_price.raw()
            );
            same!("extension", m.auction_collar_extension(), *extension);
        }
        (Message::AddOrder(m), Body::AddOrder(a)) => {
            same!("order ref", m.order_ref(), a.reference);
            same!("side", m.side(), Some(side(a.side)));
            same!("shares", m.shares(), a.shares);
            same!("stock", &m.stock()[..], a.stock.as_bytes());
            same!("price", m.price(), a.price.raw());
            same!(
                "attribution",
                None::<&[u8]>,
                a.mpid.as_ref().map(|s| s.as_bytes())
            );
        }
        (Message::AddOrderMpid(m), Body::AddOrder(a)) => {
            same!("order ref", m.order_ref(), a.reference);
            same!("side", m.side(), Some(side(a.side)));
            same!("shares", m.shares(), a.shares);
            same!("stock", &m.stock()[..], a.stock.as_bytes());
            same!("price", m.price(), a.price.raw());
            same!(
                "attribution",
                Some(&m.attribution()[..]),
                a.mpid.as_ref().map(|s| s.as_bytes())
            );
        }
        (
            Message::OrderExecuted(m),
            Body::OrderExecuted {
                reference,
                executed,
                match_number,
            },
        ) => {
            same!("order ref", m.order_ref(), *reference);
            same!("executed shares", m.executed_shares(), *executed);
            same!("match number", m.match_number(), *match_number);
        }
        (
            Message::OrderExecutedWithPrice(m),
            Body::OrderExecutedWithPrice {
                reference,
                executed,
                match_number,
                printable,
                price,
            },
        ) => {
            same!("order ref", m.order_ref(), *reference);
            same!("executed shares", m.executed_shares(), *executed);
            same!("match number", m.match_number(), *match_number);
            same!("printable", m.is_printable(), *printable);
            same!("execution price", m.execution_price(), price.raw());
        }
        (
            Message::OrderCancel(m),
            Body::OrderCancelled {
                reference,
                cancelled,
            },
        ) => {
            same!("order ref", m.order_ref(), *reference);
            same!("cancelled shares", m.cancelled_shares(), *cancelled);
        }
        (Message::OrderDelete(m), Body::DeleteOrder { reference }) => {
            same!("order ref", m.order_ref(), *reference);
        }
        (Message::OrderReplace(m), Body::ReplaceOrder(r)) => {
            same!(
                "original order ref",
                m.original_order_ref(),
                r.old_reference
            );
            same!("new order ref", m.new_order_ref(), r.new_reference);
            same!("shares", m.shares(), r.shares);
            same!("price", m.price(), r.price.raw());
        }
        (Message::NonCrossTrade(m), Body::NonCrossTrade(t)) => {
            same!("order ref", m.order_ref(), t.reference);
            same!("side", m.side(), Some(side(t.side)));
            same!("shares", m.shares(), t.shares);
            same!("stock", &m.stock()[..], t.stock.as_bytes());
            same!("price", m.price(), t.price.raw());
            same!("match number", m.match_number(), t.match_number);
        }
        (Message::CrossTrade(m), Body::CrossTrade(t)) => {
            same!("shares", m.shares(), t.shares);
            same!("stock", &m.stock()[..], t.stock.as_bytes());
            same!("cross price", m.cross_price(), t.cross_price.raw());
            same!("match number", m.match_number(), t.match_number);
            same!("cross type", m.cross_type(), cross_type(t.cross_type));
        }
        (Message::BrokenTrade(m), Body::BrokenTrade { match_number }) => {
            same!("match number", m.match_number(), *match_number);
        }
        (Message::NetOrderImbalance(m), Body::Imbalance(i)) => {
            same!("paired shares", m.paired_shares(), i.paired_shares);
            same!("imbalance shares", m.imbalance_shares(), i.imbalance_shares);
            same!(
                "imbalance direction",
                m.imbalance_direction(),
                imbalance_direction(i.imbalance_direction)
            );
            same!("stock", &m.stock()[..], i.stock.as_bytes());
            same!("far price", m.far_price(), i.far_price.raw());
            same!("near price", m.near_price(), i.near_price.raw());
            same!(
                "current reference price",
                m.current_reference_price(),
                i.current_ref_price.raw()
            );
            same!("cross type", m.cross_type(), cross_type(i.cross_type));
            same!(
                "price variation indicator",
                m.price_variation_indicator() as char,
                i.price_variation_indicator
            );
        }
        (Message::RetailPriceImprovement(m), Body::RetailPriceImprovementIndicator(r)) => {
            same!("stock", &m.stock()[..], r.stock.as_bytes());
            same!(
                "interest flag",
                m.interest_flag(),
                interest_flag(r.interest_flag)
            );
        }
        (ours, theirs) => panic!(
            "message #{index}: hotpath decoded {ours:?}, itchy decoded a different kind: {theirs:?}"
        ),
    }
    n
}

/// Decodes a length-prefixed buffer with itchy; panics on any itchy error.
pub fn itchy_decode(buf: &[u8]) -> Vec<itchy::Message> {
    itchy::MessageStream::from_reader(buf)
        .enumerate()
        .map(|(i, r)| r.unwrap_or_else(|e| panic!("itchy failed on message #{i}: {e}")))
        .collect()
}
