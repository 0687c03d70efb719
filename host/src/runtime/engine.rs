//! The process-wide wasmtime engine: configuration, the linker, the epoch ticker and
//! the on-disk cache of compiled components.
//!
//! There is one [`Engine`] per process. Epoch interruption is on, and a ticker thread
//! advances the epoch every [`TICK`]; each store sets its own deadline in ticks, so a
//! guest in an endless loop is stopped within one tick of its deadline. The pooling
//! allocator makes a fresh store per run cheap (about 11 µs here).

pub mod cache;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, InstanceAllocationStrategy, OptLevel, PoolingAllocationConfig};

use super::capabilities::{self, HostState};

/// How often the epoch advances: the resolution of every call deadline.
pub const TICK: Duration = Duration::from_millis(5);

/// How many ticks a guest runs before it yields to the async runtime, so that a
/// guest spinning in a loop cannot keep other connectors off a worker thread.
pub const SLICE_TICKS: u64 = 2;

/// How many component instances (sandboxes) can be live at once in the pooling
/// allocator: runs, record lookups and reload checks together. A sandbox takes one
/// of them as it starts ([`Engine::sandbox_slot`]), waiting if none is free, so the
/// pool is never found full in the middle of a run.
pub const MAX_INSTANCES: u32 = 128;

/// The process-wide engine and linker.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<Inner>,
}

struct Inner {
    engine: wasmtime::Engine,
    linker: Linker<HostState>,
    cache: Option<cache::CompileCache>,
    pooling: bool,
    /// One permit per instance the pool holds.
    slots: Arc<tokio::sync::Semaphore>,
}

/// Options of the engine.
#[derive(Clone, Debug, Default)]
pub struct EngineOptions {
    /// Where compiled components are cached; `None` turns the cache off.
    pub cache_dir: Option<PathBuf>,
}

/// The engine could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("cannot set up the WebAssembly engine: {0:#}")]
pub struct EngineError(#[source] wasmtime::Error);

impl Engine {
    /// Sets up the engine, its linker and its epoch ticker.
    pub fn new(options: EngineOptions) -> Result<Engine, EngineError> {
        let (engine, pooling) = match wasmtime::Engine::new(&config(true)) {
            Ok(engine) => (engine, true),
            // Pooling reserves address space up front; where that is refused (a low
            // `ulimit -v`, say), fall back to allocating on demand.
            Err(e) => {
                tracing::warn!("pooling allocator unavailable ({e:#}); allocating on demand");
                (wasmtime::Engine::new(&config(false)).map_err(EngineError)?, false)
            }
        };
        let mut linker = Linker::new(&engine);
        capabilities::add_to_linker(&mut linker).map_err(EngineError)?;
        start_ticker(&engine);
        let cache = options.cache_dir.map(|dir| cache::CompileCache::new(dir, &engine));
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_INSTANCES as usize));
        Ok(Engine { inner: Arc::new(Inner { engine, linker, cache, pooling, slots }) })
    }

    /// The wasmtime engine.
    pub fn wasmtime(&self) -> &wasmtime::Engine {
        &self.inner.engine
    }

    /// The linker holding every interface a guest may import.
    pub fn linker(&self) -> &Linker<HostState> {
        &self.inner.linker
    }

    /// The compile cache, if on.
    pub fn cache(&self) -> Option<&cache::CompileCache> {
        self.inner.cache.as_ref()
    }

    /// A slot for one sandbox, held for its life: waits while [`MAX_INSTANCES`]
    /// are live. Without it the pool refuses the instance past its size, and a run
    /// or a lookup would fail for what is only a moment's crowding.
    pub async fn sandbox_slot(&self) -> tokio::sync::OwnedSemaphorePermit {
        self.inner.slots.clone().acquire_owned().await.expect("the sandbox slots are never closed")
    }

    /// Sandboxes live now.
    pub fn sandboxes(&self) -> usize {
        MAX_INSTANCES as usize - self.inner.slots.available_permits()
    }

    /// Whether instances come from the pooling allocator.
    pub fn pooling(&self) -> bool {
        self.inner.pooling
    }
}

fn config(pooling: bool) -> Config {
    let mut cfg = Config::new();
    cfg.epoch_interruption(true)
        .cranelift_opt_level(OptLevel::Speed)
        .parallel_compilation(true)
        // Stack exhaustion in the guest must trap, never touch the host's stack.
        .max_wasm_stack(1 << 20);
    if pooling {
        // Sized for the guests partners build, not only Rust's: a Rust connector is
        // 3 core instances with 1 memory, a componentize-py one 14 with several
        // memories and tables. 128 instances of either fit at once; the slots are
        // address space (a memory reserves its `max_memory_size`), not resident memory.
        let mut p = PoolingAllocationConfig::new();
        p.total_component_instances(MAX_INSTANCES)
            .total_core_instances(MAX_INSTANCES * 16)
            .total_memories(MAX_INSTANCES * 4)
            .total_tables(MAX_INSTANCES * 8)
            .total_stacks(MAX_INSTANCES)
            .max_memory_size(4 << 30)
            .max_unused_warm_slots(16);
        cfg.allocation_strategy(InstanceAllocationStrategy::Pooling(p));
    }
    cfg
}

/// Advances the engine's epoch every [`TICK`] until the engine is dropped.
fn start_ticker(engine: &wasmtime::Engine) {
    let weak = engine.weak();
    std::thread::Builder::new()
        .name("epoch-ticker".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawning the epoch ticker thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_sandbox_past_the_pool_waits_for_a_slot_instead_of_failing() {
        let engine = Engine::new(EngineOptions::default()).unwrap();
        let mut held = Vec::new();
        for _ in 0..MAX_INSTANCES {
            held.push(engine.sandbox_slot().await);
        }
        assert_eq!(engine.sandboxes(), MAX_INSTANCES as usize);
        let waiting = tokio::spawn({
            let engine = engine.clone();
            async move { engine.sandbox_slot().await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "a slot was given past the pool's size");
        held.pop();
        let slot = tokio::time::timeout(Duration::from_secs(5), waiting).await.unwrap().unwrap();
        assert_eq!(engine.sandboxes(), MAX_INSTANCES as usize);
        drop(slot);
        drop(held);
        assert_eq!(engine.sandboxes(), 0);
    }
}
