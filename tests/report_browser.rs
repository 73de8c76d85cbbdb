//! The report as a browser shows it: headless Chromium renders index.html at 1280 px,
//! and the rendered DOM and screenshot must show the tables and a drawn plot for
//! every chart, and a first screen of 1280 x 800 that holds every configuration's
//! verdict card (four of them in the fixtures with two configurations added) and
//! forest plots with one mark per metric variant. Skipped where Chromium is not
//! installed (CI installs it).
//!
//! `GPU_VIRT_BENCH_FIRST_SCREEN=reports/nvidia-h200/first-screen.png` keeps the
//! committed H200 report's first screen, as checked, at that path.

mod common;

use common::{four_config_fixture, written_report};
use gpu_virt_bench::report::HTML_FILE;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The window the page is drawn in: tall enough that the plots below the enforcement
/// matrix and the verdicts are on screen.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 3200;
/// The first screen: what a reader sees before scrolling.
const FIRST_SCREEN: u32 = 800;

fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")))
        .filter(|path| path.is_file())
}

/// Runs headless Chromium on `page` in a window `height` px tall with `extra`
/// arguments and returns its stdout.
fn run_chromium(
    chromium: &Path,
    profile: &Path,
    page: &Path,
    height: u32,
    extra: &[String],
) -> String {
    let mut child = Command::new(chromium)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={WIDTH},{height}"))
        .args(extra)
        .arg(format!("file://{}", page.display()))
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromium starts");
    // Read while it runs: a DOM larger than the pipe's buffer would block it.
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        stdout.read_to_string(&mut text).map(|_| text)
    });
    let deadline = Instant::now() + Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("chromium did not finish within 120 s");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success(), "chromium failed: {status:?}");
    reader.join().unwrap().unwrap()
}

/// The colours the page gives its configurations, from the legend swatches.
fn config_colours(dom: &str) -> Vec<String> {
    let mut colours: Vec<String> = dom
        .split("class=\"swatch\" style=\"background:")
        .skip(1)
        .map(|rest| rest[..7].to_ascii_uppercase())
        .collect();
    colours.sort();
    colours.dedup();
    colours
}

#[test]
fn chromium_shows_tables_and_every_plot_has_drawn_data() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no Chromium at /usr/bin/chromium and CHROMIUM is unset");
        return;
    };
    let (guard, folder) = written_report();
    let page = folder.join(HTML_FILE);
    let profile = guard.path().join("chromium-profile");

    let dom = run_chromium(
        &chromium,
        &profile,
        &page,
        HEIGHT,
        &["--dump-dom".to_owned()],
    );
    assert_eq!(
        dom.matches("<table>").count(),
        5,
        "the enforcement matrix, verdicts and three metric tables"
    );
    let matrix = dom
        .find("<section id=\"enforcement\">")
        .expect("the matrix");
    assert!(matrix < dom.find("<section id=\"verdicts\">").unwrap());
    assert!(dom.contains("<th>Change vs native</th>"));
    let colours = config_colours(&dom);
    assert_eq!(colours.len(), 3, "{colours:?}");
    let plots: Vec<&str> = dom
        .split("<svg")
        .skip(1)
        .map(|rest| &rest[..rest.find("</svg>").expect("closed svg")])
        .collect();
    assert_eq!(
        plots.len(),
        8,
        "two forest plots, three bar charts, two SM-share charts, one scenario's tenants"
    );
    for (i, plot) in plots.iter().enumerate() {
        // Axes and grid are black or grey; data is drawn in a configuration's colour.
        let data = plot
            .split('<')
            .filter(|element| {
                ["rect", "polyline", "circle", "path"]
                    .iter()
                    .any(|kind| element.starts_with(kind))
                    && colours
                        .iter()
                        .any(|c| element.to_ascii_uppercase().contains(&format!("\"{c}\"")))
            })
            .count();
        assert!(data >= 2, "plot {i} draws {data} data elements");
    }

    let shot = guard.path().join("shot.png");
    let pixels = screenshot(&chromium, &profile, &page, HEIGHT, &shot);
    let rgb: Vec<&[u8]> = pixels.iter().map(|px| px.as_slice()).collect();
    let plain = rgb.iter().filter(|px| px.iter().all(|&c| c >= 240)).count();
    let inked = 1.0 - plain as f64 / rgb.len() as f64;
    assert!(
        inked > 0.02 && inked < 0.9,
        "{:.1} % of the screenshot is not near-white",
        inked * 100.0
    );
    // Every configuration's colour reaches the screen: the plots were painted.
    for colour in &colours {
        let target = rgb_of(colour);
        let painted = rgb.iter().filter(|px| near(px, &target)).count();
        assert!(painted > 200, "{colour}: {painted} pixels");
    }
}

/// A screenshot of `page` in a window `height` px tall, kept at `shot`, as RGB pixels
/// row by row.
fn screenshot(
    chromium: &Path,
    profile: &Path,
    page: &Path,
    height: u32,
    shot: &Path,
) -> Vec<[u8; 3]> {
    run_chromium(
        chromium,
        profile,
        page,
        height,
        &[format!("--screenshot={}", shot.display())],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (WIDTH, height));
    let channels = info.color_type.samples();
    pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|px| [px[0], px[1], px[2]])
        .collect()
}

/// "#2563EB" as its three channels.
fn rgb_of(colour: &str) -> [u8; 3] {
    let channel = |i: usize| u8::from_str_radix(&colour[1 + 2 * i..3 + 2 * i], 16).unwrap();
    [channel(0), channel(1), channel(2)]
}

fn near(px: &[u8], target: &[u8; 3]) -> bool {
    px.iter().zip(target).all(|(&a, &b)| a.abs_diff(b) <= 12)
}

/// The groups of adjacent screen rows where `colour` runs at least 200 px without a
/// break: a card's top and bottom borders, drawn in its configuration's colour.
fn borders(pixels: &[[u8; 3]], colour: &str) -> usize {
    let target = rgb_of(colour);
    let rows: Vec<bool> = pixels
        .chunks(WIDTH as usize)
        .map(|row| {
            let mut run = 0;
            row.iter().any(|px| {
                run = if near(px, &target) { run + 1 } else { 0 };
                run >= 200
            })
        })
        .collect();
    rows.iter()
        .zip(std::iter::once(&false).chain(&rows))
        .filter(|(&here, &above)| here && !above)
        .count()
}

/// The colour of each card's border, in page order, from its style attribute.
fn card_colours(dom: &str) -> Vec<String> {
    dom.split("<article class=\"vcard\"")
        .skip(1)
        .map(|card| {
            let at = card.find("border-top-color:").unwrap() + "border-top-color:".len();
            card[at..at + 7].to_ascii_uppercase()
        })
        .collect()
}

/// Each forest plot's configuration, the marks it says it has, and the circles its
/// SVG draws.
fn forest_marks(dom: &str) -> Vec<(String, usize, usize)> {
    dom.split("<figure class=\"forest\" id=\"forest-")
        .skip(1)
        .map(|figure| {
            let figure = &figure[..figure.find("</figure>").unwrap()];
            let config = figure[..figure.find('"').unwrap()].to_owned();
            let at = figure.find("data-marks=\"").unwrap() + "data-marks=\"".len();
            let marks = figure[at..at + figure[at..].find('"').unwrap()]
                .parse()
                .unwrap();
            (config, marks, figure.matches("<circle").count())
        })
        .collect()
}

/// Renders `page` and checks its first screen: every configuration's card, top and
/// bottom border, within 1280 x 800; and a forest plot per configuration with one
/// mark per metric variant. Returns the cards' configurations and the screenshot.
fn check_first_screen(chromium: &Path, profile: &Path, page: &Path, shot: &Path) -> Vec<String> {
    let dom = run_chromium(
        chromium,
        profile,
        page,
        FIRST_SCREEN,
        &["--dump-dom".to_owned()],
    );
    let colours = card_colours(&dom);
    let pixels = screenshot(chromium, profile, page, FIRST_SCREEN, shot);
    for colour in &colours {
        assert_eq!(
            borders(&pixels, colour),
            2,
            "the card bordered in {colour} is not whole on the first screen"
        );
    }
    let forests = forest_marks(&dom);
    assert_eq!(forests.len(), colours.len(), "a forest plot per card");
    for (config, marks, circles) in &forests {
        assert!(*marks > 0, "{config}");
        assert_eq!(circles, marks, "{config}: one mark per metric variant");
    }
    forests.into_iter().map(|(config, _, _)| config).collect()
}

#[test]
fn chromium_shows_four_configurations_cards_on_the_first_screen() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no Chromium at /usr/bin/chromium and CHROMIUM is unset");
        return;
    };
    let root = four_config_fixture();
    let out = tempfile::tempdir().unwrap();
    let folder = gpu_virt_bench::report::write_reports(root.path(), out.path())
        .unwrap()
        .remove(0);
    let configs = check_first_screen(
        &chromium,
        &out.path().join("chromium-profile"),
        &folder.join(HTML_FILE),
        &out.path().join("shot.png"),
    );
    assert_eq!(configs, ["hami-100", "hami-75", "hami-50", "hami-25"]);
}

#[test]
fn chromium_shows_the_committed_h200_first_screen() {
    let Some(chromium) = chromium() else {
        eprintln!("skipped: no Chromium at /usr/bin/chromium and CHROMIUM is unset");
        return;
    };
    let page = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("reports/nvidia-h200")
        .join(HTML_FILE);
    let scratch = tempfile::tempdir().unwrap();
    let shot = scratch.path().join("first-screen.png");
    let configs = check_first_screen(
        &chromium,
        &scratch.path().join("chromium-profile"),
        &page,
        &shot,
    );
    assert_eq!(configs, ["hami-100", "hami-50", "hami-25"]);
    if let Some(keep) = std::env::var_os("GPU_VIRT_BENCH_FIRST_SCREEN") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
