//! The inference module does what the engine promises: the loops of its Shift and Add
//! accumulation kernels (`infer::kernels::shift_channel`, `add_channel`, one per stride) contain
//! no integer or float multiply, scalar or SIMD (their setup before the loops may compute steps).
//!
//! The shipped module (`pkg/infer/shiftaddaug_bg.wasm`) has no name section; `scripts/build.sh`
//! writes the same module with names to `<target>/variant-infer/named/`. The test finds the
//! kernels there and checks that both modules have the same code. It runs after
//! `scripts/build.sh` (tier 4 of scripts/test.sh: `cargo test --release --test infer_wasm --
//! --ignored`).

use std::collections::BTreeMap;
use wasmparser::{KnownCustom, Name, Parser, Payload, TypeRef};

const KERNELS: [&str; 2] = ["shift_channel", "add_channel"];

/// The bytes of the code section.
fn code_section(wasm: &[u8]) -> &[u8] {
    for payload in Parser::new(0).parse_all(wasm) {
        if let Payload::CodeSectionStart { range, .. } = payload.expect("a valid wasm module") {
            return &wasm[range];
        }
    }
    panic!("no code section")
}

/// Function index → name, and the operators of every defined function by index.
fn functions(wasm: &[u8]) -> (BTreeMap<u32, String>, BTreeMap<u32, Vec<String>>) {
    let (mut names, mut bodies) = (BTreeMap::new(), BTreeMap::new());
    let mut next = 0u32;
    for payload in Parser::new(0).parse_all(wasm) {
        match payload.expect("a valid wasm module") {
            Payload::ImportSection(s) => {
                next += s.into_imports().filter(|i| matches!(i.as_ref().map(|i| i.ty), Ok(TypeRef::Func(_)))).count() as u32;
            }
            Payload::CodeSectionEntry(body) => {
                let mut ops = Vec::new();
                let mut r = body.get_operators_reader().unwrap();
                while !r.eof() {
                    ops.push(format!("{:?}", r.read().unwrap()));
                }
                bodies.insert(next, ops);
                next += 1;
            }
            Payload::CustomSection(c) => {
                if let KnownCustom::Name(reader) = c.as_known() {
                    for sub in reader {
                        if let Ok(Name::Function(map)) = sub {
                            for n in map {
                                let n = n.unwrap();
                                names.insert(n.index, n.name.to_string());
                            }
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (names, bodies)
}

/// The operators inside `loop … end` constructs (any depth) of a function body.
fn in_loops(ops: &[String]) -> Vec<&String> {
    // One entry per open block: whether it is a loop.
    let mut open: Vec<bool> = Vec::new();
    let mut out = Vec::new();
    for op in ops {
        let name = op.split([' ', '{', '(']).next().unwrap_or(op);
        match name {
            "Block" | "If" | "Try" | "TryTable" => open.push(false),
            "Loop" => open.push(true),
            "End" => {
                open.pop();
            }
            _ if open.contains(&true) => out.push(op),
            _ => {}
        }
    }
    out
}

fn is_multiply(op: &str) -> bool {
    let name = op.split([' ', '{', '(']).next().unwrap_or(op);
    name.contains("Mul") || name.contains("Dot") || name.contains("Madd")
}

#[test]
#[ignore = "needs pkg/infer/ from scripts/build.sh; tier 4 runs it"]
fn shift_and_add_kernel_loops_have_no_multiply() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), std::path::PathBuf::from);
    let read =
        |path: std::path::PathBuf| std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e} (run scripts/build.sh first)", path.display()));
    let shipped = read(root.join("pkg/infer/shiftaddaug_bg.wasm"));
    let wasm = read(target.join("variant-infer/named/shiftaddaug_bg.wasm"));
    assert!(code_section(&shipped) == code_section(&wasm), "the named copy's code differs from the shipped module's: rebuild");
    let (names, bodies) = functions(&wasm);
    // The check itself sees multiplies: the module's other code has them (indexing, the
    // requantisation, Mult layers).
    assert!(bodies.values().flatten().any(|op| is_multiply(op)), "no multiply anywhere: the scan is broken");
    for kernel in KERNELS {
        let found: Vec<_> = names.iter().filter(|(_, n)| n.contains(kernel)).collect();
        assert!(!found.is_empty(), "{kernel} is not a function of the module (inlined or renamed?)");
        for (index, name) in found {
            let ops = bodies.get(index).unwrap_or_else(|| panic!("{name} has no body"));
            assert!(ops.len() > 10, "{name}: {} operators, not the loop", ops.len());
            let looped = in_loops(ops);
            assert!(looped.len() > 5, "{name}: no loop found");
            let muls: Vec<_> = looped.iter().filter(|op| is_multiply(op)).collect();
            assert!(muls.is_empty(), "{name} multiplies inside its loops: {muls:?}");
            let outside = ops.iter().filter(|op| is_multiply(op)).count();
            println!(
                "{name}: {} operators, {} in loops, none a multiply ({outside} multiplies in the setup before them)",
                ops.len(),
                looped.len()
            );
        }
    }
}
