//! The architecture search in the SDK (`crate::nas`): `searchBegin` prepares a search inside this
//! session's ShiftAddAug supernet as it stands (a copy of its weights), `searchNext` does one
//! step (scores one candidate, or closes a generation) so that the caller reports progress and
//! stops between steps.

use super::{Net, Session, export_object, labels_u32, parse_json};
use crate::aug::AugNet;
use crate::cost::latency::{LatencyTable, PredictLatency};
use crate::data::Dataset;
use crate::engine::latency::{BackendLatencyTable, until_timed};
use crate::error::{Error, Result};
use crate::nas::supernet::{Candidate, Holdout, Report, WidthSpace, default_shrink, inherited, score};
use crate::nas::{Evolution, LatencyEngine, SearchOptions, Step};
use burn::module::Module;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// A search in progress.
pub(super) struct Search {
    space: WidthSpace,
    evolution: Evolution,
    net: AugNet,
    bn: Dataset,
    eval: Dataset,
    /// This device's latency table, when a latency limit asks for one.
    table: Option<Table>,
}

/// The latency table a limit reads ([`LatencyEngine`]).
enum Table {
    /// The integer engine's, timed in this thread as candidates ask for layers.
    Integer(LatencyTable),
    /// The float model's on the session's device, timed asynchronously between runs of a step
    /// ([`until_timed`]).
    Float(BackendLatencyTable),
}

/// A shorter borrow of a step's pricing table.
fn reborrow<'a>(p: &'a mut Option<&mut dyn PredictLatency>) -> Option<&'a mut dyn PredictLatency> {
    match p {
        Some(t) => Some(&mut **t),
        None => None,
    }
}

/// `step` with the pricing `table` gives (none without a latency limit). An integer table is
/// timed as the step asks; with a float one the step runs again until every layer it priced was
/// timed, so it must start from the same state each time.
async fn priced<T>(table: &mut Option<Table>, step: impl FnMut(Option<&mut dyn PredictLatency>) -> T) -> Result<T> {
    let mut step = step;
    match table {
        None => Ok(step(None)),
        Some(Table::Integer(t)) => Ok(step(Some(t))),
        Some(Table::Float(t)) => until_timed(t, &|| performance_now(), |p| step(Some(p))).await,
    }
}

#[wasm_bindgen]
extern "C" {
    /// `performance.now()` (ms) of the window or worker (Node has it too).
    #[wasm_bindgen(js_namespace = performance, js_name = now)]
    fn performance_now() -> f64;
}

/// Timed samples per layer of the latency table.
const LATENCY_REPS: usize = 9;

/// A latency table on `performance.now()`, whose step is measured: browsers coarsen it (Chromium
/// to 5 µs on a cross-origin isolated page, 100 µs otherwise), Node does not.
fn device_table() -> LatencyTable {
    LatencyTable::new(LATENCY_REPS, Box::new(|| performance_now() * 1e-3), clock_step())
}

/// The smallest change of `performance.now()` seen between its next few changes, seconds (at
/// least 1 ns; 1 ms if it does not change within a million reads).
fn clock_step() -> f64 {
    let (mut last, mut step, mut changes) = (performance_now(), f64::INFINITY, 0);
    for _ in 0..1_000_000 {
        let t = performance_now();
        if t != last {
            // The first change ends a partial step.
            if changes > 0 {
                step = step.min(t - last);
            }
            changes += 1;
            last = t;
            if changes > 4 {
                break;
            }
        }
    }
    if step.is_finite() { (step * 1e-3).max(1e-9) } else { 1e-3 }
}

/// What `searchNext` resolves to (JSON camelCase).
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
enum Event {
    /// A candidate was scored.
    Scored { scored: usize, generation: usize },
    /// A generation closed.
    Generation { generation: usize, best: Candidate, scored: usize },
    /// The search is over (finished, or stopped by the caller).
    Done { result: Report },
}

fn to_js<T: serde::Serialize>(v: &T) -> Result<JsValue> {
    v.serialize(&serde_wasm_bindgen::Serializer::json_compatible()).map_err(|e| Error::Backend(e.to_string()))
}

#[wasm_bindgen]
impl Session {
    /// Starts a search (options: `SearchOptions`, camelCase) inside this session's supernet,
    /// scoring candidates on held-out images: BatchNorm statistics from `(bnX, bnY)`, accuracy on
    /// `(evalX, evalY)`. Resolves to `{ genes, architectures }`. Rejects with `INVALID_CONFIG` for
    /// a model that is not a supernet trained with augmentation, bad options or a limit no
    /// architecture meets (naming the cheapest one's cost); `SHAPE_MISMATCH` / `INVALID_DATASET`
    /// for bad data.
    #[wasm_bindgen(js_name = searchBegin)]
    pub fn search_begin(&self, options: JsValue, bn_x: Vec<f32>, bn_y: Vec<i32>, eval_x: Vec<f32>, eval_y: Vec<i32>) -> js_sys::Promise {
        let (state, num_classes) = (self.state.clone(), self.num_classes);
        future_to_promise(async move {
            let run = async {
                let opts: SearchOptions = parse_json(options, "search options")?;
                let (evo, constraint) = (opts.evolution()?, opts.constraint()?);
                let net = match state.borrow().trainer.as_ref().ok_or(Error::Busy)? {
                    Net::Aug(t) => t.model().clone(),
                    Net::Mf(_) => return Err(Error::Config("search needs a zoo model (a ShiftAddAug supernet), not 'mfcnn'".into())),
                };
                let space = WidthSpace::new(&net.config, &opts.shrink.clone().unwrap_or_else(|| default_shrink(&net.config)), opts.depth)?;
                let shape = net.config.input_shape;
                let bn = Dataset::new(bn_x, labels_u32(&bn_y)?, shape, num_classes)?;
                let eval = Dataset::new(eval_x, labels_u32(&eval_y)?, shape, num_classes)?;
                if bn.is_empty() || eval.is_empty() {
                    return Err(Error::Dataset("search needs at least one BatchNorm image and one scoring image".into()));
                }
                let mut table = match (constraint.max_latency_ns, opts.latency_engine) {
                    (None, _) => None,
                    (Some(_), LatencyEngine::Integer) => Some(Table::Integer(device_table())),
                    (Some(_), LatencyEngine::Float) => {
                        let device = net.devices().first().cloned().ok_or_else(|| Error::Config("model has no parameters".into()))?;
                        Some(Table::Float(BackendLatencyTable::new(&net.config, &device.inner(), 1, LATENCY_REPS)))
                    }
                };
                let evolution = priced(&mut table, |p| {
                    let p = std::cell::RefCell::new(p);
                    let cost = |g: &Vec<usize>| Ok(space.priced(&net, g, reborrow(&mut p.borrow_mut())));
                    Evolution::seeded(&space.space(), &evo, &constraint, &cost, &[space.tiny_genome()])
                })
                .await??;
                let info = serde_json::json!({ "genes": space.space().choices.len(), "architectures": space.space().size() as f64 });
                state.borrow_mut().search = Some(Box::new(Search { space, evolution, net, bn, eval, table }));
                to_js(&info)
            };
            run.await.map_err(JsValue::from)
        })
    }

    /// One step of the search begun with `searchBegin`: resolves to `{ kind: 'scored', scored,
    /// generation }`, `{ kind: 'generation', generation, best, scored }` or `{ kind: 'done',
    /// result: { best, front, evaluated, export } }` (`export`: the best with the supernet's
    /// weights, BatchNorm re-estimated on `(bnX, bnY)`, as `exportModel` returns a model). With
    /// `stop`, ends the search and resolves to its result so far (`done`).
    #[wasm_bindgen(js_name = searchNext)]
    pub fn search_next(&self, stop: bool) -> js_sys::Promise {
        let state = self.state.clone();
        future_to_promise(async move {
            let run = async {
                // The search leaves the state while a candidate is scored (no borrow across the await).
                let mut search = state.borrow_mut().search.take().ok_or_else(|| Error::Config("call searchBegin first".into()))?;
                if stop {
                    search.evolution.stop();
                }
                let s = &mut *search;
                let (space, net, evolution) = (&s.space, &s.net, &s.evolution);
                let (evolution, step) = priced(&mut s.table, |p| {
                    let p = std::cell::RefCell::new(p);
                    let cost = |g: &Vec<usize>| Ok(space.priced(net, g, reborrow(&mut p.borrow_mut())));
                    let mut e = evolution.clone();
                    let step = e.next(&cost);
                    (e, step)
                })
                .await?;
                s.evolution = evolution;
                let event = match step? {
                    Step::Score(g, _) => {
                        let holdout = Holdout { bn: &s.bn, eval: &s.eval };
                        let accuracy = score(&s.space, &s.net, &g, &holdout).await?;
                        s.evolution.report(accuracy);
                        Event::Scored { scored: s.evolution.scored(), generation: s.evolution.generation() }
                    }
                    Step::Generation(generation, best) => {
                        Event::Generation { generation, best: Candidate::of(&s.space, &best), scored: s.evolution.scored() }
                    }
                    Step::Done => {
                        if s.evolution.scored() == 0 {
                            return Err(Error::Config("the search was stopped before any candidate was scored".into()));
                        }
                        let report = Report::of(&s.space, &s.evolution.result());
                        // The best with the supernet's weights, BatchNorm re-estimated on the
                        // held-out images: what the CLI's `search` writes to `--out`.
                        let best = inherited(&s.space, &s.net, &report.best.genome, &s.bn)?;
                        let (json, bytes) = crate::export::export_supernet(&best).await?;
                        let done = to_js(&Event::Done { result: report })?;
                        let result = js_sys::Reflect::get(&done, &"result".into()).map_err(|_| Error::Backend("search result".into()))?;
                        js_sys::Reflect::set(&result, &"export".into(), &export_object(json, &bytes)?)
                            .map_err(|_| Error::Backend("search result".into()))?;
                        return Ok(done);
                    }
                };
                state.borrow_mut().search = Some(search);
                to_js(&event)
            };
            run.await.map_err(JsValue::from)
        })
    }
}
