//! Routing-index benchmark: `locate` against a linear scan, and index build time,
//! on synthetic cities of 1,000, 10,000 and 50,000 grids.

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BatchSize, BenchmarkId, Criterion};
use geo::BoundingRect;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use safegrid::grids::{locate::*, synth::*};

const SIZES: [usize; 3] = [1_000, 10_000, 50_000];
const SEED: u64 = 2024;
const POINTS: usize = 4_096;

/// Uniform random points in the city's bounding box, as (lng, lat).
fn random_points(city: &[AreaShape], count: usize) -> Vec<(f64, f64)> {
    let rects: Vec<_> = city
        .iter()
        .filter_map(|s| s.geometry.bounding_rect())
        .collect();
    let min_x = rects
        .iter()
        .map(|r| r.min().x)
        .fold(f64::INFINITY, f64::min);
    let min_y = rects
        .iter()
        .map(|r| r.min().y)
        .fold(f64::INFINITY, f64::min);
    let max_x = rects
        .iter()
        .map(|r| r.max().x)
        .fold(f64::NEG_INFINITY, f64::max);
    let max_y = rects
        .iter()
        .map(|r| r.max().y)
        .fold(f64::NEG_INFINITY, f64::max);
    let mut rng = StdRng::seed_from_u64(SEED + 1);
    (0..count)
        .map(|_| (rng.gen_range(min_x..=max_x), rng.gen_range(min_y..=max_y)))
        .collect()
}

fn report_memory_and_build_time() {
    println!("grids   vertices  approx_memory  build_time");
    for size in SIZES {
        let city = synthetic_city(size, SEED);
        let vertices: usize = city
            .iter()
            .flat_map(|s| &s.geometry.0)
            .map(|p| p.exterior().0.len())
            .sum();
        let start = Instant::now();
        let index = RoutingIndex::build(city);
        let elapsed = start.elapsed();
        println!(
            "{size:>6} {vertices:>10} {:>11.1} MiB  {elapsed:>10.1?}",
            index.approx_memory_bytes() as f64 / (1024.0 * 1024.0)
        );
    }
}

fn bench_size(c: &mut Criterion, size: usize) {
    let city = synthetic_city(size, SEED);
    let points = random_points(&city, POINTS);
    let index = RoutingIndex::build(city.clone());
    let heavy = size >= 10_000;

    let mut group = c.benchmark_group(format!("grids_{size}"));
    group.measurement_time(Duration::from_secs(4));
    group.warm_up_time(Duration::from_secs(1));

    let mut i = 0;
    group.bench_function(BenchmarkId::new("locate", size), |b| {
        b.iter(|| {
            let (lng, lat) = points[i % POINTS];
            i += 1;
            black_box(index.locate(black_box(lng), black_box(lat)))
        })
    });

    if heavy {
        group.sample_size(10);
    }
    let mut i = 0;
    group.bench_function(BenchmarkId::new("linear_scan", size), |b| {
        b.iter(|| {
            let (lng, lat) = points[i % POINTS];
            i += 1;
            black_box(linear_scan_locate(&city, black_box(lng), black_box(lat)))
        })
    });

    group.sample_size(10);
    group.bench_function(BenchmarkId::new("build", size), |b| {
        b.iter_batched(|| city.clone(), RoutingIndex::build, BatchSize::LargeInput)
    });
    group.finish();
}

fn main() {
    // `cargo test --benches` runs this binary without `--bench` to smoke-test it;
    // the table is only worth its time in a real run.
    if std::env::args().any(|arg| arg == "--bench") {
        report_memory_and_build_time();
    }
    let mut criterion = Criterion::default().configure_from_args();
    for size in SIZES {
        bench_size(&mut criterion, size);
    }
    criterion.final_summary();
}
