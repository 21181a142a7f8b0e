//! The architecture search in the SDK (`crate::nas`): `searchBegin` prepares a search inside this
//! session's ShiftAddAug supernet as it stands (a copy of its weights), `searchNext` does one
//! step (scores one candidate, or closes a generation) so that the caller reports progress and
//! stops between steps.

use super::{Net, Session, export_object, labels_u32, parse_json};
use crate::aug::AugNet;
use crate::cost::latency::{LatencyTable, PredictLatency};
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nas::supernet::{Candidate, Holdout, Report, WidthSpace, default_shrink, inherited, score};
use crate::nas::{Evolution, SearchOptions, Step};
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
    table: Option<LatencyTable>,
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
    /// `(evalX, evalY)`. Returns `{ genes, architectures }`. Throws `INVALID_CONFIG` for a model
    /// that is not a supernet trained with augmentation, bad options or a limit no architecture
    /// meets (naming the cheapest one's cost); `SHAPE_MISMATCH` / `INVALID_DATASET` for bad data.
    #[wasm_bindgen(js_name = searchBegin)]
    pub fn search_begin(
        &self,
        options: JsValue,
        bn_x: Vec<f32>,
        bn_y: Vec<i32>,
        eval_x: Vec<f32>,
        eval_y: Vec<i32>,
    ) -> Result<JsValue, JsValue> {
        let inner = || -> Result<JsValue> {
            let opts: SearchOptions = parse_json(options, "search options")?;
            let (evo, constraint) = (opts.evolution()?, opts.constraint()?);
            let net = match self.state.borrow().trainer.as_ref().ok_or(Error::Busy)? {
                Net::Aug(t) => t.model().clone(),
                Net::Mf(_) => return Err(Error::Config("search needs a zoo model (a ShiftAddAug supernet), not 'mfcnn'".into())),
            };
            let space = WidthSpace::new(&net.config, &opts.shrink.clone().unwrap_or_else(|| default_shrink(&net.config)), opts.depth)?;
            let shape = net.config.input_shape;
            let bn = Dataset::new(bn_x, labels_u32(&bn_y)?, shape, self.num_classes)?;
            let eval = Dataset::new(eval_x, labels_u32(&eval_y)?, shape, self.num_classes)?;
            if bn.is_empty() || eval.is_empty() {
                return Err(Error::Dataset("search needs at least one BatchNorm image and one scoring image".into()));
            }
            let table = std::cell::RefCell::new(constraint.max_latency_ns.map(|_| device_table()));
            let cost = |g: &Vec<usize>| Ok(space.priced(&net, g, table.borrow_mut().as_mut().map(|t| t as &mut dyn PredictLatency)));
            let evolution = Evolution::seeded(&space.space(), &evo, &constraint, &cost, &[space.tiny_genome()])?;
            let info = serde_json::json!({ "genes": space.space().choices.len(), "architectures": space.space().size() as f64 });
            let table = table.into_inner();
            self.state.borrow_mut().search = Some(Box::new(Search { space, evolution, net, bn, eval, table }));
            to_js(&info)
        };
        inner().map_err(JsValue::from)
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
                let (space, net, table) = (&s.space, &s.net, std::cell::RefCell::new(s.table.take()));
                let cost = |g: &Vec<usize>| Ok(space.priced(net, g, table.borrow_mut().as_mut().map(|t| t as &mut dyn PredictLatency)));
                let step = s.evolution.next(&cost);
                s.table = table.into_inner();
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
