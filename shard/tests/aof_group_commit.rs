//! Group commit on a real file: many clients under `appendfsync always`, each awaiting
//! durability before its next command, share writes and fdatasyncs. Prints the ratio.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::Ordering::Relaxed;

use shoal_shard::aof::{self, AppendFsync, DirLock};

const CLIENTS: usize = 50;
const PER_CLIENT: usize = 40;

#[test]
fn clients_waiting_for_durability_share_fsyncs() {
    let scratch = std::env::temp_dir().join(format!("shoal-aof-gc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    let dir = scratch.join(aof::DIR_NAME);
    let lock = DirLock::acquire(&dir).unwrap();
    let a = aof::Aof::open(lock, &Default::default(), AppendFsync::Always).unwrap();
    let a = Rc::new(RefCell::new(a));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let local = tokio::task::LocalSet::new();
    for c in 0..CLIENTS {
        let a = a.clone();
        local.spawn_local(async move {
            let mut durable = a.borrow().durable();
            for i in 0..PER_CLIENT {
                let need = {
                    let mut a = a.borrow_mut();
                    a.append(&[
                        b"SET".to_vec(),
                        format!("c{c}:{i}").into_bytes(),
                        b"v".to_vec(),
                    ]);
                    // Worst case for batching: every command flushes on its own.
                    a.flush();
                    a.applied()
                };
                durable.wait(need).await.unwrap();
            }
        });
    }
    rt.block_on(local);
    let a = Rc::try_unwrap(a).ok().unwrap().into_inner();
    let stats = a.stats().clone();
    a.close().unwrap();
    let commands = (CLIENTS * PER_CLIENT) as u64;
    let fsyncs = stats.fsyncs.load(Relaxed);
    let writes = stats.write_syscalls.load(Relaxed);
    println!("{commands} commands, {writes} writes, {fsyncs} fsyncs");
    assert!(
        fsyncs * 5 < commands,
        "{fsyncs} fsyncs for {commands} commands"
    );
    assert!(writes <= fsyncs + 1, "one write per batch");
    let mut n = 0;
    aof::load_dir::<()>(
        &dir,
        &Default::default(),
        |_| {
            n += 1;
            Ok(())
        },
        |_, _| {},
    )
    .unwrap();
    assert_eq!(n, commands);
    let _ = std::fs::remove_dir_all(&scratch);
}
