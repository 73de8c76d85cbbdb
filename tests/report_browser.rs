//! The fixture report as a browser shows it: headless Chromium renders index.html at
//! 1280 px, and the rendered DOM and screenshot must show the tables and a drawn
//! plot for every chart. Skipped where Chromium is not installed (CI installs it).

mod common;

use common::written_report;
use gpu_virt_bench::report::HTML_FILE;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The window the page is drawn in: tall enough that the plots below the enforcement
/// matrix and the verdicts are on screen.
const WIDTH: u32 = 1280;
const HEIGHT: u32 = 3200;

fn chromium() -> Option<PathBuf> {
    std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/usr/bin/chromium")))
        .filter(|path| path.is_file())
}

/// Runs headless Chromium on `page` with `extra` arguments and returns its stdout.
fn run_chromium(chromium: &Path, profile: &Path, page: &Path, extra: &[String]) -> String {
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
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
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

    let dom = run_chromium(&chromium, &profile, &page, &["--dump-dom".to_owned()]);
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
        6,
        "three bar charts, two SM-share charts, one scenario's tenants"
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
    run_chromium(
        &chromium,
        &profile,
        &page,
        &[format!("--screenshot={}", shot.display())],
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    let channels = info.color_type.samples();
    let rgb: Vec<&[u8]> = pixels[..info.buffer_size()]
        .chunks(channels)
        .map(|px| &px[..3])
        .collect();
    let plain = rgb.iter().filter(|px| px.iter().all(|&c| c >= 240)).count();
    let inked = 1.0 - plain as f64 / rgb.len() as f64;
    assert!(
        inked > 0.02 && inked < 0.9,
        "{:.1} % of the screenshot is not near-white",
        inked * 100.0
    );
    // Every configuration's colour reaches the screen: the plots were painted.
    for colour in &colours {
        let target: Vec<u8> = (0..3)
            .map(|i| u8::from_str_radix(&colour[1 + 2 * i..3 + 2 * i], 16).unwrap())
            .collect();
        let painted = rgb
            .iter()
            .filter(|px| px.iter().zip(&target).all(|(&a, &b)| a.abs_diff(b) <= 12))
            .count();
        assert!(painted > 200, "{colour}: {painted} pixels");
    }
}
