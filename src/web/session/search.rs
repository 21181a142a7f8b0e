//! The architecture search in the SDK (`crate::nas`): `searchBegin` prepares a search inside this
//! session's ShiftAddAug supernet as it stands (a copy of its weights), `searchNext` does one
//! step (scores one candidate, or closes a generation) so that the caller reports progress and
//! stops between steps.

use super::{Net, Session, js_error, labels_u32, parse_json};
use crate::aug::AugNet;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nas::supernet::{Candidate, Holdout, Report, WidthSpace, score};
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
            let space = WidthSpace::new(&net.config, &opts.shrink)?;
            let shape = net.config.input_shape;
            let bn = Dataset::new(bn_x, labels_u32(&bn_y)?, shape, self.num_classes)?;
            let eval = Dataset::new(eval_x, labels_u32(&eval_y)?, shape, self.num_classes)?;
            if bn.is_empty() || eval.is_empty() {
                return Err(Error::Dataset("search needs at least one BatchNorm image and one scoring image".into()));
            }
            let cost = |g: &Vec<usize>| Ok(space.cost(&net, g));
            let evolution = Evolution::seeded(&space.space(), &evo, &constraint, &cost, &[space.tiny_genome()])?;
            let info = serde_json::json!({ "genes": space.space().choices.len(), "architectures": space.space().size() as f64 });
            self.state.borrow_mut().search = Some(Box::new(Search { space, evolution, net, bn, eval }));
            to_js(&info)
        };
        inner().map_err(js_error)
    }

    /// One step of the search begun with `searchBegin`: resolves to `{ kind: 'scored', scored,
    /// generation }`, `{ kind: 'generation', generation, best, scored }` or `{ kind: 'done',
    /// result: { best, front, evaluated } }`. With `stop`, ends the search and resolves to its
    /// result so far (`done`).
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
                let cost = |g: &Vec<usize>| Ok(s.space.cost(&s.net, g));
                let event = match s.evolution.next(&cost)? {
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
                        return to_js(&Event::Done { result: Report::of(&s.space, &s.evolution.result()) });
                    }
                };
                state.borrow_mut().search = Some(search);
                to_js(&event)
            };
            run.await.map_err(js_error)
        })
    }
}
