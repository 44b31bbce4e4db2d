//! Replays the committed fuzz corpora (`fuzz/corpus/<target>/`) and any crash artifacts
//! (`fuzz/artifacts/<target>/`) through the fuzz entry points on every `cargo test`, then a
//! short deterministic mutation pass over the seeds (bit flips, truncations, splices), so the
//! parsers that see client bytes are exercised even where cargo-fuzz cannot run.

use std::path::Path;

fn inputs(target: &str) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for sub in ["corpus", "artifacts"] {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz")
            .join(sub)
            .join(target);
        if let Ok(entries) = std::fs::read_dir(&dir) {
            let mut files: Vec<_> = entries.flatten().map(|e| e.path()).collect();
            files.sort();
            for f in files {
                if let Ok(data) = std::fs::read(&f) {
                    out.push(data);
                }
            }
        }
    }
    out
}

#[test]
fn corpora_replay() {
    for (name, target) in sluice::fuzzing::TARGETS {
        let seeds = inputs(name);
        assert!(!seeds.is_empty(), "no corpus for fuzz target {name}");
        for s in &seeds {
            target(s);
        }
    }
}

#[test]
fn deterministic_mutations() {
    let mut state: u64 = 0x243f_6a88_85a3_08d3;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for (name, target) in sluice::fuzzing::TARGETS {
        let seeds = inputs(name);
        let rounds = if *name == "pack_stream" || *name == "upload_pack" {
            150
        } else {
            600
        };
        for _ in 0..rounds {
            let mut data = seeds[(next() as usize) % seeds.len()].clone();
            match next() % 4 {
                0 if !data.is_empty() => {
                    let at = (next() as usize) % data.len();
                    data[at] ^= 1 << (next() % 8);
                }
                1 => {
                    let keep = (next() as usize) % (data.len() + 1);
                    data.truncate(keep);
                }
                2 if !data.is_empty() => {
                    let at = (next() as usize) % data.len();
                    data[at] = next() as u8;
                }
                _ => {
                    let other = &seeds[(next() as usize) % seeds.len()];
                    let at = (next() as usize) % (data.len() + 1);
                    let from = (next() as usize) % (other.len() + 1);
                    data.truncate(at);
                    data.extend_from_slice(&other[from..]);
                }
            }
            target(&data);
        }
    }
}
