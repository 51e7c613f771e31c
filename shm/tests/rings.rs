//! Single-process behaviour of rings, counters and the directory tools.

mod common;

use std::fs::OpenOptions;
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::PermissionsExt;

use common::{scratch, Other, Seq};
use hotpath_shm::broadcast::{self, JoinAt, Received};
use hotpath_shm::counters::{CounterKind, CountersBuilder, CountersReader};
use hotpath_shm::dir::{self, CleanOutcome};
use hotpath_shm::header::ObjectKind;
use hotpath_shm::{spsc, Liveness, PushError, RingError, ShmError};

fn poke(path: &std::path::Path, offset: u64, bytes: &[u8]) {
    let mut f = OpenOptions::new().write(true).open(path).unwrap();
    f.seek(SeekFrom::Start(offset)).unwrap();
    f.write_all(bytes).unwrap();
}

#[test]
fn spsc_push_pop_in_order_and_full_hands_value_back() {
    let d = scratch();
    let path = d.path().join("orders");
    let mut p = spsc::create::<Seq>(&path, 8).unwrap();
    let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
    for i in 0..8 {
        p.try_push(Seq::new(i)).unwrap();
    }
    match p.try_push(Seq::new(8)) {
        Err(PushError::Full(v)) => assert_eq!(v.seq, 8, "the value comes back"),
        other => panic!("expected Full, got {other:?}"),
    }
    assert_eq!(c.len().unwrap(), 8);
    for i in 0..8 {
        let m = c.try_pop().unwrap().unwrap();
        assert_eq!(m.seq, i);
        assert!(m.is_intact());
    }
    assert_eq!(c.try_pop().unwrap(), None);
    p.try_push(Seq::new(8)).unwrap();
    assert_eq!(c.try_pop().unwrap().unwrap().seq, 8);
    assert_eq!(p.position(), 9);
    assert_eq!(c.position(), 9);
}

#[test]
fn spsc_consumer_releases_slots_in_batches_on_empty_and_on_drop() {
    let d = scratch();
    let path = d.path().join("acks");
    let cap = 256u64;
    let lazy = spsc::protocol::lazy_release(cap);
    assert!(lazy > 2, "a batch worth testing: {lazy}");
    let mut p = spsc::create::<Seq>(&path, cap).unwrap();
    let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
    for i in 0..cap {
        p.try_push(Seq::new(i)).unwrap();
    }
    // Fewer than a batch read from a full ring: the producer sees no room yet.
    for i in 0..lazy - 1 {
        assert_eq!(c.try_pop().unwrap().unwrap().seq, i);
    }
    assert_eq!(c.pending_release(), lazy - 1);
    assert_eq!(p.free_slots().unwrap(), 0);
    // The batch's last read releases all of it.
    assert_eq!(c.try_pop().unwrap().unwrap().seq, lazy - 1);
    assert_eq!(p.free_slots().unwrap(), lazy);
    // Draining the ring: the first empty poll releases the rest.
    let mut next = lazy;
    while let Some(m) = c.try_pop().unwrap() {
        assert_eq!(m.seq, next);
        next += 1;
    }
    assert_eq!(next, cap);
    assert_eq!(p.free_slots().unwrap(), cap);
    // Two read, then the consumer goes away: its drop releases them, and a new
    // consumer resumes after them (nothing read twice).
    for i in cap..cap + 5 {
        p.try_push(Seq::new(i)).unwrap();
    }
    assert_eq!(c.try_pop().unwrap().unwrap().seq, cap);
    assert_eq!(c.try_pop().unwrap().unwrap().seq, cap + 1);
    assert_eq!(p.free_slots().unwrap(), cap - 5);
    drop(c);
    assert_eq!(p.free_slots().unwrap(), cap - 3);
    let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
    assert_eq!(c.position(), cap + 2);
    assert_eq!(c.try_pop().unwrap().unwrap().seq, cap + 2);
    c.flush();
    assert_eq!(c.pending_release(), 0);
    assert_eq!(p.free_slots().unwrap(), cap - 2);
    // One at a time: every pop releases its slot before the message is returned.
    assert_eq!(c.release_batch(), lazy);
    c.set_release_batch(1);
    assert_eq!(c.release_batch(), 1);
    for i in cap + 3..cap + 5 {
        assert_eq!(c.try_pop().unwrap().unwrap().seq, i);
        assert_eq!(c.pending_release(), 0);
    }
    assert_eq!(p.free_slots().unwrap(), cap);
}

#[test]
fn spsc_batches_wrap_around() {
    let d = scratch();
    let path = d.path().join("events");
    let mut p = spsc::create::<Seq>(&path, 16).unwrap();
    let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
    let mut next_in = 0u64;
    let mut next_out = 0u64;
    let mut out = [Seq::default(); 7];
    for round in 0..200 {
        let batch: Vec<Seq> = (next_in..next_in + 11).map(Seq::new).collect();
        next_in += p.push_slice(&batch).unwrap() as u64;
        if round % 2 == 0 {
            let n = c.pop_slice(&mut out).unwrap();
            for m in &out[..n] {
                assert_eq!(m.seq, next_out);
                next_out += 1;
            }
        } else {
            let n = c
                .consume(5, |m| {
                    assert_eq!(m.seq, next_out);
                    assert!(m.is_intact());
                    next_out += 1;
                })
                .unwrap();
            assert!(n <= 5);
        }
        assert!(next_in - next_out <= 16);
    }
    while let Some(m) = c.try_pop().unwrap() {
        assert_eq!(m.seq, next_out);
        next_out += 1;
    }
    assert_eq!(next_in, next_out);
    assert!(next_in > 16 * 10, "wrapped many times");
}

#[test]
fn spsc_roles_are_exclusive_and_liveness_follows_the_lock() {
    let d = scratch();
    let path = d.path().join("ring");
    let mut c = spsc::create_for_consumer::<Seq>(&path, 4).unwrap();
    assert_eq!(c.producer_liveness().unwrap(), Liveness::Never);
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::RoleTaken {
                role: "consumer",
                ..
            }
        ),
        "{err}"
    );
    assert!(
        err.to_string()
            .contains(&format!("pid {}", std::process::id())),
        "{err}"
    );

    let mut p = spsc::Producer::<Seq>::attach(&path).unwrap();
    assert_eq!(c.producer_liveness().unwrap(), Liveness::Alive);
    assert_eq!(p.consumer_liveness().unwrap(), Liveness::Alive);
    p.try_push(Seq::new(0)).unwrap();
    drop(p);
    assert_eq!(c.producer_liveness().unwrap(), Liveness::Dead);
    // The message pushed before the producer left is still delivered, then the death.
    assert_eq!(c.pop_wait(|| {}).unwrap().seq, 0);
    let err = c.pop_wait(std::hint::spin_loop).unwrap_err();
    assert!(matches!(err, RingError::ProducerDead { .. }), "{err}");

    // A new producer may take over and continues the numbering.
    let mut p2 = spsc::Producer::<Seq>::attach(&path).unwrap();
    assert_eq!(p2.position(), 1);
    p2.try_push(Seq::new(1)).unwrap();
    assert_eq!(c.try_pop().unwrap().unwrap().seq, 1);
}

#[test]
fn attach_refuses_wrong_type_kind_and_missing_file() {
    let d = scratch();
    let path = d.path().join("ring");
    let _p = spsc::create::<Seq>(&path, 4).unwrap();
    let err = spsc::Consumer::<Other>::attach(&path).unwrap_err();
    assert!(matches!(err, ShmError::IncompatibleType { .. }), "{err}");
    assert_eq!(err.field(), Some("type_hash"));
    let msg = err.to_string();
    assert!(
        msg.contains("ring") && msg.contains("`Seq`") && msg.contains("`Other`"),
        "{msg}"
    );

    let err = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::WrongKind {
                expected: ObjectKind::Broadcast,
                ..
            }
        ),
        "{err}"
    );
    let err = CountersReader::open(&path).unwrap_err();
    assert_eq!(err.field(), Some("kind"), "{err}");

    let err = spsc::Consumer::<Seq>::attach(&d.path().join("absent")).unwrap_err();
    assert!(matches!(err, ShmError::Io { op: "open", .. }), "{err}");
    assert!(err.to_string().contains("absent"));
}

#[test]
fn attach_names_the_bad_header_field() {
    let d = scratch();
    let path = d.path().join("ring");
    drop(spsc::create::<Seq>(&path, 4).unwrap());
    let pristine = std::fs::read(&path).unwrap();
    let restore = || std::fs::write(&path, &pristine).unwrap();

    poke(&path, 0, b"NOTMAGIC");
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(matches!(err, ShmError::BadMagic { .. }), "{err}");
    restore();

    poke(&path, 0, &[0; 8]);
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(matches!(err, ShmError::NotPublished { .. }), "{err}");
    restore();

    poke(&path, 8, &99u32.to_le_bytes());
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(
        matches!(err, ShmError::VersionMismatch { found: 99, .. }),
        "{err}"
    );
    restore();

    poke(&path, 32, &6u64.to_le_bytes());
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(err.field(), Some("capacity"), "{err}");
    assert!(err.to_string().contains("not a power of two"), "{err}");
    restore();

    poke(&path, 40, &32u64.to_le_bytes());
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(err.field(), Some("slot_size"), "{err}");
    restore();

    poke(&path, 48, &0u64.to_le_bytes());
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(err.field(), Some("data_offset"), "{err}");
    restore();

    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(pristine.len() as u64 - 1)
        .unwrap();
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::Truncated {
                field: "file_size",
                ..
            }
        ),
        "{err}"
    );
    std::fs::write(&path, &pristine[..100]).unwrap();
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert!(
        matches!(
            err,
            ShmError::Truncated {
                field: "header",
                ..
            }
        ),
        "{err}"
    );
    restore();

    // Control words: head past tail is refused at attach.
    poke(&path, spsc::HEAD_OFFSET, &5u64.to_le_bytes());
    let err = spsc::Consumer::<Seq>::attach(&path).unwrap_err();
    assert_eq!(err.field(), Some("head"), "{err}");
    restore();
    spsc::Consumer::<Seq>::attach(&path).unwrap();
}

#[test]
fn a_hostile_peer_index_is_an_error_not_ub() {
    let d = scratch();
    let path = d.path().join("ring");
    let mut p = spsc::create::<Seq>(&path, 4).unwrap();
    let mut c = spsc::Consumer::<Seq>::attach(&path).unwrap();
    p.try_push(Seq::new(0)).unwrap();
    // Someone writes a tail 1000 ahead of the head.
    poke(&path, spsc::TAIL_OFFSET, &1000u64.to_le_bytes());
    let err = c.try_pop().unwrap_err();
    assert!(
        matches!(
            err,
            RingError::Corrupt {
                field: "tail",
                value: 1000,
                ..
            }
        ),
        "{err}"
    );
    // And a head past the tail makes the producer refuse (handing the value back).
    let d2 = scratch();
    let path2 = d2.path().join("ring");
    let mut p2 = spsc::create::<Seq>(&path2, 2).unwrap();
    p2.try_push(Seq::new(0)).unwrap();
    p2.try_push(Seq::new(1)).unwrap();
    poke(&path2, spsc::HEAD_OFFSET, &77u64.to_le_bytes());
    match p2.try_push(Seq::new(2)) {
        Err(PushError::Corrupt(v, RingError::Corrupt { field: "head", .. })) => {
            assert_eq!(v.seq, 2)
        }
        other => panic!("expected Corrupt, got {other:?}"),
    }
    let _ = p;
}

#[test]
fn files_are_private() {
    let d = scratch();
    let path = d.path().join("inst").join("ring");
    let _p = spsc::create::<Seq>(&path, 4).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let dmode = std::fs::metadata(path.parent().unwrap())
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(dmode, 0o700);
}

#[test]
fn create_refuses_to_replace_a_live_object_but_replaces_a_dead_one() {
    let d = scratch();
    let path = d.path().join("ring");
    let p = spsc::create::<Seq>(&path, 4).unwrap();
    let err = spsc::create::<Seq>(&path, 4).unwrap_err();
    assert!(matches!(err, ShmError::InUse { .. }), "{err}");
    drop(p);
    let mut p = spsc::create::<Seq>(&path, 8).unwrap();
    assert_eq!(p.capacity(), 8);
    assert_eq!(p.free_slots().unwrap(), 8);
}

#[test]
fn broadcast_slow_subscriber_counts_exactly_what_it_lost() {
    let d = scratch();
    let path = d.path().join("md");
    let mut publ = broadcast::create::<Seq>(&path, 8).unwrap();
    let mut fast = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap();
    let mut slow = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap();
    assert!(publ.has_consumers().unwrap());
    let mut slow_got = Vec::new();
    let mut slow_lost = 0;
    for i in 0..100u64 {
        assert_eq!(publ.publish(&Seq::new(i)), i);
        match fast.try_recv().unwrap() {
            Received::Message { seq, msg } => {
                assert_eq!(seq, i);
                assert!(msg.is_intact());
            }
            other => panic!("fast subscriber got {other:?}"),
        }
        if i % 20 == 19 {
            // The slow one reads only now and then: it has been lapped.
            loop {
                match slow.try_recv().unwrap() {
                    Received::Message { seq, msg } => {
                        assert_eq!(seq, msg.seq);
                        slow_got.push(seq);
                    }
                    Received::Lagged { lost, resume_at } => {
                        slow_lost += lost;
                        assert_eq!(resume_at, i + 1);
                    }
                    Received::Empty => break,
                }
            }
        }
    }
    assert_eq!(fast.lost(), 0);
    assert_eq!(slow.lost(), slow_lost);
    assert_eq!(slow_lost + slow_got.len() as u64, 100);
    assert!(slow_lost > 0);
    // Late joiners: Oldest sees what is still in the ring, Latest only what comes next.
    let mut oldest = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Oldest).unwrap();
    assert_eq!(oldest.position(), 92);
    let mut latest = broadcast::Subscriber::<Seq>::attach(&path, JoinAt::Latest).unwrap();
    assert_eq!(latest.try_recv().unwrap(), Received::Empty);
    match oldest.try_recv().unwrap() {
        Received::Message { seq: 92, msg } => assert!(msg.is_intact()),
        other => panic!("{other:?}"),
    }
    publ.publish_batch(&[Seq::new(100), Seq::new(101)]);
    assert!(matches!(
        latest.try_recv().unwrap(),
        Received::Message { seq: 100, .. }
    ));
    assert_eq!(latest.published(), 102);
    drop(publ);
    assert_eq!(latest.producer_liveness().unwrap(), Liveness::Dead);
    assert!(matches!(
        latest.recv_wait(|| {}).unwrap(),
        Received::Message { seq: 101, .. }
    ));
    let err = latest.recv_wait(|| {}).unwrap_err();
    assert!(matches!(err, RingError::ProducerDead { .. }));
}

#[test]
fn counters_round_trip_and_reject_bad_names() {
    let d = scratch();
    let path = d.path().join("feed.counters");
    let mut b = CountersBuilder::new();
    let pk = b.counter("feed", "packets", "packets").unwrap();
    let depth = b.gauge("feed", "ring_depth", "").unwrap();
    let hb = b.heartbeat("feed").unwrap();
    assert!(b.counter("feed", "packets", "").is_err(), "duplicate");
    assert!(b.counter("Feed", "x", "").is_err(), "upper case");
    assert!(b.counter("feed", "a-b", "").is_err(), "dash");
    let mut region = b.create(&path).unwrap();
    let packets = region.counter(pk);
    let depth = region.counter(depth);
    let hb = region.heartbeat(hb);
    packets.add(41);
    packets.inc();
    depth.set(7);
    hb.beat_at(123);

    let r = CountersReader::open(&path).unwrap();
    assert_eq!(r.infos().len(), 3);
    assert_eq!(r.infos()[0].kind, CounterKind::Counter);
    assert_eq!(r.infos()[2].kind, CounterKind::Heartbeat);
    assert_eq!(r.infos()[0].unit, "packets");
    assert_eq!(r.values(), vec![42, 7, 123]);
    assert_eq!(r.get("feed", "ring_depth"), Some(7));
    assert_eq!(r.get("feed", "nope"), None);
    assert_eq!(r.owner_liveness().unwrap(), Liveness::Alive);
    assert_eq!(r.owner_pid(), std::process::id());
    drop((packets, depth, hb));
    drop(region);
    assert_eq!(r.owner_liveness().unwrap(), Liveness::Dead);

    // A corrupt counter kind is refused, naming the counter.
    poke(&path, 4096 + 128, &9u32.to_le_bytes());
    let err = CountersReader::open(&path).unwrap_err();
    assert_eq!(err.field(), Some("counters[1].kind"), "{err}");
}

#[test]
fn ls_and_clean_keep_live_objects_and_remove_dead_ones() {
    let d = scratch();
    let inst = dir::instance_dir(d.path(), "t1").unwrap();
    let mut live = spsc::create::<Seq>(&inst.join("live"), 4).unwrap();
    live.try_push(Seq::new(0)).unwrap();
    live.try_push(Seq::new(1)).unwrap();
    drop(spsc::create::<Seq>(&inst.join("dead"), 4).unwrap());
    let _md = broadcast::create::<Seq>(&inst.join("md"), 4).unwrap();
    std::fs::write(inst.join("garbage"), b"not a ring").unwrap();

    let listed = dir::list(&inst).unwrap();
    let names: Vec<_> = listed
        .iter()
        .map(|(p, _)| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["dead", "garbage", "live", "md"]);
    let info = listed[2].1.as_ref().unwrap();
    assert_eq!(info.kind, ObjectKind::Spsc);
    assert_eq!(info.fill, Some(2));
    assert_eq!(info.producer, Liveness::Alive);
    assert_eq!(info.consumer, Liveness::Never);
    assert_eq!(info.type_name, "Seq");
    assert_eq!(listed[0].1.as_ref().unwrap().producer, Liveness::Dead);
    assert!(listed[1].1.is_err());

    let dry = dir::clean(&inst, true).unwrap();
    assert!(inst.join("dead").exists(), "dry run removes nothing");
    let outcome = |v: &[(std::path::PathBuf, CleanOutcome)], n: &str| {
        v.iter()
            .find(|(p, _)| p.ends_with(n))
            .map(|(_, o)| o.clone())
    };
    assert_eq!(outcome(&dry, "dead"), Some(CleanOutcome::Removed));
    let done = dir::clean(&inst, false).unwrap();
    assert_eq!(outcome(&done, "live"), Some(CleanOutcome::KeptAlive));
    assert_eq!(outcome(&done, "md"), Some(CleanOutcome::KeptAlive));
    assert_eq!(outcome(&done, "garbage"), Some(CleanOutcome::Removed));
    assert!(!inst.join("dead").exists());
    assert!(inst.join("live").exists());
    assert_eq!(dir::instances(d.path()).unwrap(), ["t1"]);
    assert!(dir::instance_dir(d.path(), "../etc").is_err());
    assert!(dir::instance_dir(d.path(), ".hidden").is_err());
}
