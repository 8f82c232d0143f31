package tests

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// chromium runs headless Chromium on a page with args (--dump-dom,
// --screenshot=FILE), with a profile of its own, and returns its output.
func chromium(t *testing.T, url string, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("chromium")
	if err != nil {
		t.Skip("chromium is not installed (apt-get install chromium)")
	}
	args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		"--window-size=1300,1100"}, append(args, url)...)
	r := runCmd(t, []string{"HOME=" + t.TempDir()}, nil, bin, args...)
	if r.code != 0 {
		t.Fatalf("chromium: exit %d\n%s", r.code, tail(r.stderr, 20))
	}
	return r.stdout
}

// mapAttrs reads the attributes of the picture's <svg id="map"> in a DOM
// Chromium dumped: the page's script sets data-files and data-bytes to
// the areas it finds and their bytes.
func mapAttrs(t *testing.T, dom string) map[string]string {
	t.Helper()
	tag := regexp.MustCompile(`<svg id="map"[^>]*>`).FindString(dom)
	if tag == "" {
		t.Fatalf("no picture in the DOM:\n%s", tail(dom, 20))
	}
	attrs := map[string]string{}
	for _, m := range regexp.MustCompile(`([a-zA-Z-]+)="([^"]*)"`).FindAllStringSubmatch(tag, -1) {
		attrs[m[1]] = m[2]
	}
	return attrs
}

// artifactDir is where tests keep files for people to look at:
// $MKINITRD_NG_ARTIFACTS, else a directory under the system's temporary
// directory, which outlives the test.
func artifactDir(t *testing.T) string {
	dir := os.Getenv("MKINITRD_NG_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "mkinitrd-ng-artifacts")
	}
	must(t, os.MkdirAll(dir, 0o755))
	return dir
}

// TestReportInChromium: Chromium loads the report of the README's
// example image and finds one area per file holding data, whose bytes
// add up to what ls --json says; #g0 zooms into the largest group; a
// screenshot is kept. The diff page and the SVG load too.
func TestReportInChromium(t *testing.T) {
	dir := t.TempDir()
	img := filepath.Join(dir, "new.img")
	manifest := repoPath(t, "examples/shell.json")
	buildImage(t, manifest, "/", img)
	files, bytes := 0, int64(0)
	for _, e := range lsJSON(t, img).Entries {
		if e.Type == "file" && e.DataSize > 0 {
			files++
			bytes += e.DataSize
		}
	}
	page := filepath.Join(dir, "report.html")
	if r := run(t, nil, "report", img, "--manifest", manifest, "-o", page); r.code != 0 {
		t.Fatalf("report: exit %d\n%s", r.code, r.stderr)
	}
	attrs := mapAttrs(t, chromium(t, "file://"+page, "--dump-dom"))
	if attrs["data-files"] != strconv.Itoa(files) || attrs["data-bytes"] != strconv.FormatInt(bytes, 10) {
		t.Errorf("the browser found %s areas of %s bytes; ls --json: %d files of %d bytes", attrs["data-files"], attrs["data-bytes"], files, bytes)
	}
	zoomed := mapAttrs(t, chromium(t, "file://"+page+"#g0", "--dump-dom"))
	if zoomed["viewBox"] == attrs["viewBox"] || !strings.Contains(zoomed["class"], "zoomed") {
		t.Errorf("#g0 did not zoom: viewBox %q, was %q", zoomed["viewBox"], attrs["viewBox"])
	}
	shot := filepath.Join(artifactDir(t), "report.png")
	chromium(t, "file://"+page, "--screenshot="+shot)
	if fi, err := os.Stat(shot); err != nil || fi.Size() < 10_000 {
		t.Fatalf("no screenshot: %v", err)
	}
	t.Logf("screenshot of the report: %s", shot)
	t.Run("diff", func(t *testing.T) { reportDiffInChromium(t, img, dir) })
	t.Run("svg", func(t *testing.T) {
		svg := filepath.Join(dir, "report.svg")
		if r := run(t, nil, "report", img, "--format", "svg", "-o", svg); r.code != 0 {
			t.Fatalf("report --format svg: exit %d\n%s", r.code, r.stderr)
		}
		dom := chromium(t, "file://"+svg, "--dump-dom")
		if n := strings.Count(dom, `class="file"`); n != files {
			t.Errorf("the SVG has %d areas, want %d", n, files)
		}
	})
}

// reportDiffInChromium: the diff of a smaller image and img shows the
// files of both, the added ones blue, and its legend.
func reportDiffInChromium(t *testing.T, img, dir string) {
	old := filepath.Join(dir, "old.img")
	small := filepath.Join(dir, "small.json")
	must(t, os.WriteFile(small, []byte(`{"contents": [{"source": "/bin/sh"}, {"source": "/bin/cat"}]}`), 0o644))
	buildImage(t, small, "/", old)
	page := filepath.Join(dir, "diff.html")
	if r := run(t, nil, "report", old, img, "-o", page); r.code != 0 {
		t.Fatalf("report OLD NEW: exit %d\n%s", r.code, r.stderr)
	}
	var data struct {
		Files []struct{ Change string } `json:"files"`
	}
	r := run(t, nil, "report", old, img, "--format", "json", "-o", "-")
	if err := json.Unmarshal([]byte(r.stdout), &data); err != nil {
		t.Fatalf("report --format json: %v", err)
	}
	dom := chromium(t, "file://"+page, "--dump-dom")
	if got := mapAttrs(t, dom)["data-files"]; got != strconv.Itoa(len(data.Files)) {
		t.Errorf("the browser found %s areas, the report has %d files", got, len(data.Files))
	}
	for _, want := range []string{"removed (hatched)", `data-change="added"`, `data-change="removed"`} {
		if !strings.Contains(dom, want) {
			t.Errorf("the diff page lacks %q", want)
		}
	}
	shot := filepath.Join(artifactDir(t), "report-diff.png")
	chromium(t, "file://"+page, "--screenshot="+shot)
	t.Logf("screenshot of the diff: %s", shot)
}
