//! The f32 reference of a deployed model: the forward pass of docs/FORMAT.md in plain loops,
//! one image at a time. The integer engine is calibrated on it and compared with it.

use super::format::{Act, BN_EPS, Conv, Graph, Linear, Node, Op, shapes};
use crate::error::{Error, Result};

/// `[c, h, w]` output of `l` for `x` of shape `s` (zero padding).
pub fn conv(l: &Conv, x: &[f32], s: [usize; 3]) -> (Vec<f32>, [usize; 3]) {
    let [_, h, w] = s;
    let (ho, wo) = ((h + 2 * l.pad - l.k) / l.stride + 1, (w + 2 * l.pad - l.k) / l.stride + 1);
    let cg = l.cin / l.groups;
    let mut y = vec![0f32; l.cout * ho * wo];
    for oc in 0..l.cout {
        let g0 = if l.groups == 1 { 0 } else { oc };
        let wk = &l.weight[oc * l.fan_in()..(oc + 1) * l.fan_in()];
        let inv = l.bn.gamma[oc] / (l.bn.var[oc] + BN_EPS).sqrt();
        for oy in 0..ho {
            for ox in 0..wo {
                let mut acc = 0f32;
                for ic in 0..cg {
                    for ky in 0..l.k {
                        for kx in 0..l.k {
                            let (iy, ix) = ((oy * l.stride + ky) as isize - l.pad as isize, (ox * l.stride + kx) as isize - l.pad as isize);
                            let p = if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                0.0
                            } else {
                                x[((g0 + ic) * h + iy as usize) * w + ix as usize]
                            };
                            let wv = wk[(ic * l.k + ky) * l.k + kx];
                            match l.op {
                                Op::Mult | Op::Shift => acc += p * wv,
                                Op::Add => acc -= (p - wv).abs(),
                            }
                        }
                    }
                }
                y[(oc * ho + oy) * wo + ox] = act(l.act, (acc - l.bn.mean[oc]) * inv + l.bn.beta[oc]);
            }
        }
    }
    (y, [l.cout, ho, wo])
}

fn act(a: Act, v: f32) -> f32 {
    match a {
        Act::None => v,
        Act::Relu => v.max(0.0),
        Act::Relu6 => v.clamp(0.0, 6.0),
        Act::Hswish => v * hsigmoid(v),
    }
}

/// `relu6(v + 3) / 6`.
fn hsigmoid(v: f32) -> f32 {
    (v + 3.0).clamp(0.0, 6.0) / 6.0
}

/// `x · weight + bias` of one row `x` (`[features]`).
pub fn dense(l: &Linear, x: &[f32]) -> Vec<f32> {
    (0..l.classes).map(|k| l.bias[k] + x.iter().enumerate().map(|(f, v)| v * l.weight[f * l.classes + k]).sum::<f32>()).collect()
}

/// Logits of one image; `observe(node, values)` sees the input (node `None`) and the output of
/// every node (calibration records their ranges).
///
/// # Errors
/// [`Error::Shape`] when `image` is not `c · h · w` values.
pub fn forward(g: &Graph, image: &[f32], observe: &mut dyn FnMut(Option<usize>, &[f32])) -> Result<Vec<f32>> {
    let n = g.input.iter().product::<usize>();
    if image.len() != n {
        return Err(Error::Shape(format!("an image of {:?} has {n} values; got {}", g.input, image.len())));
    }
    observe(None, image);
    let (mut x, mut s) = (image.to_vec(), g.input);
    let mut saved = Vec::new();
    for (i, node) in g.nodes.iter().enumerate() {
        match *node {
            Node::Conv(l) => (x, s) = conv(&g.layers[l], &x, s),
            Node::Save => saved.push(x.clone()),
            Node::AddSaved => {
                let a = saved.pop().expect("shapes() checked the shortcuts");
                x.iter_mut().zip(&a).for_each(|(v, a)| *v += a);
            }
            Node::AvgPool => {
                let hw = s[1] * s[2];
                x = x.chunks_exact(hw).map(|c| c.iter().sum::<f32>() / hw as f32).collect();
                s = [s[0], 1, 1];
            }
            Node::Se(j) => {
                let se = &g.se[j];
                let hw = s[1] * s[2];
                let pooled: Vec<f32> = x.chunks_exact(hw).map(|c| c.iter().sum::<f32>() / hw as f32).collect();
                let z: Vec<f32> = dense(&se.reduce, &pooled).into_iter().map(|v| v.max(0.0)).collect();
                for (c, e) in x.chunks_exact_mut(hw).zip(dense(&se.expand, &z)) {
                    let gate = hsigmoid(e);
                    c.iter_mut().for_each(|v| *v *= gate);
                }
            }
            Node::Final => {
                let f = g.final_conv.as_ref().expect("shapes() checked the final conv");
                x = dense(f, &x).into_iter().map(|v| act(Act::Hswish, v)).collect();
                s = [f.classes, 1, 1];
            }
        }
        observe(Some(i), &x);
    }
    Ok(match &g.classifier {
        Some(c) => dense(c, &x),
        None => x,
    })
}

/// Logits `[n, classes]` (row-major) of `n` images; natively on rayon, one image per task.
///
/// # Errors
/// [`Error::Shape`] when `images` is not `n` images.
pub fn logits(g: &Graph, images: &[f32], n: usize) -> Result<Vec<f32>> {
    let per = g.input.iter().product::<usize>();
    if Some(images.len()) != n.checked_mul(per) {
        return Err(Error::Shape(format!("{} values for {n} images of {:?}", images.len(), g.input)));
    }
    shapes(g)?;
    let rows = crate::par::map(n, |i| forward(g, &images[i * per..(i + 1) * per], &mut |_, _| {}));
    Ok(rows.into_iter().collect::<Result<Vec<_>>>()?.concat())
}
