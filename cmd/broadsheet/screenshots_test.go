package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/broadsheet-news/broadsheet/subscription"
)

// screenshotsDirEnv names a directory to keep the reader-page screenshots
// in (default: the test's temporary directory, removed after it).
const screenshotsDirEnv = "BROADSHEET_SCREENSHOTS_DIR"

// chromium returns a browser context on Debian's chromium, or skips the
// test (fails it under CI, which must run it) when none is installed.
func chromium(t *testing.T) context.Context {
	t.Helper()
	return newBrowser(t, needChromium(t))
}

// view sets the window's width and colour scheme.
func view(width int64, scheme string) chromedp.Action[chromedp.Void] {
	return chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
		opts := []chromedp.EmulateViewportOption{}
		if width < 600 {
			opts = append(opts, chromedp.EmulateMobile, chromedp.EmulateTouch)
		}
		if _, err := chromedp.EmulateViewport(width, 900, opts...)(ctx, t); err != nil {
			return err
		}
		_, err := cdp.Call(ctx, t, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}},
		})
		return err
	})
}

// shoot loads url (after the steps, if any, or instead of them) and returns
// a full-page PNG, the number of <h1> elements and the page's width.
func shoot(browser context.Context, width int64, scheme, url string, then ...chromedp.Action[chromedp.Void]) (png []byte, h1s, scrollWidth int64, err error) {
	browser, cancel := context.WithTimeout(browser, 20*time.Second)
	defer cancel()
	steps := append([]chromedp.Action[chromedp.Void]{view(width, scheme), chromedp.Navigate(url)}, then...)
	if err = chromedp.Do(browser, steps...); err != nil {
		return nil, 0, 0, err
	}
	if h1s, err = chromedp.Run(browser, chromedp.Evaluate[int64](`document.querySelectorAll("h1").length`)); err != nil {
		return nil, 0, 0, err
	}
	if scrollWidth, err = chromedp.Run(browser, chromedp.Evaluate[int64](`document.documentElement.scrollWidth`)); err != nil {
		return nil, 0, 0, err
	}
	png, err = chromedp.Run(browser, chromedp.FullScreenshot(100))
	return png, h1s, scrollWidth, err
}

// TestReaderPageScreenshots renders every reader page in a real browser
// at 390 and 1280 px wide, light and dark, and saves full-page PNGs under
// $BROADSHEET_SCREENSHOTS_DIR (or the test's temporary directory). Each
// page must render without a horizontal scroll bar and with one <h1>.
func TestReaderPageScreenshots(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short: it drives a real browser")
	}
	browser := chromium(t)
	dir := os.Getenv(screenshotsDirEnv)
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}

	mail, env := newStackEnv(t)
	env["BROADSHEET_POSTAL_ADDRESS"] = "1 Main Street, Springfield"
	c := &cli{env: env}
	for _, day := range []string{"2026-11-25", "2026-11-26", "2026-11-27"} {
		if code := c.run(context.Background(), "build", "--date", day); code != 0 {
			t.Fatal(c.stderr.String())
		}
	}
	addActive(t, env, 1) // subscriber 1: reader0@example.com
	s := startStackWith(t, mail, env)
	token := func(p subscription.Purpose) string { return s.signer.Sign(p, 1, time.Now()) }

	pages := []struct{ name, path string }{
		{"home", ""},
		{"edition", "editions/2026-11-26"},
		{"archive", "archive"},
		{"subscribe", "subscribe"},
		{"confirm", "confirm/" + token(subscription.PurposeConfirm)},
		{"confirm-expired", "confirm/" + s.signer.Sign(subscription.PurposeConfirm, 1, time.Now().Add(-72*time.Hour))},
		{"preferences", "preferences/" + token(subscription.PurposePreferences)},
		{"unsubscribe", "unsubscribe/" + token(subscription.PurposeUnsubscribe)},
		{"notfound", "no-such-page"},
	}
	for _, p := range pages {
		for _, width := range []int64{390, 1280} {
			for _, scheme := range []string{"light", "dark"} {
				name := fmt.Sprintf("%s-%d-%s.png", p.name, width, scheme)
				png, h1s, scrollWidth, err := shoot(browser, width, scheme, s.url+p.path)
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
					t.Fatal(err)
				}
				if h1s != 1 {
					t.Errorf("%s: %d <h1> elements, want 1", name, h1s)
				}
				if scrollWidth > width {
					t.Errorf("%s: the page is %d px wide in a %d px window (a horizontal scroll bar)", name, scrollWidth, width)
				}
			}
		}
	}
	// The unsubscribed page comes after a POST: press the button, then
	// shoot the page it leads to in every size and scheme.
	if _, _, _, err := shoot(browser, 390, "light", s.url+"unsubscribe/"+token(subscription.PurposeUnsubscribe),
		chromedp.Click(chromedp.CSS(`main form button`)),
		chromedp.WaitVisible(chromedp.CSS(`main p a[href$="subscribe"]`))); err != nil {
		t.Fatalf("unsubscribe: %v", err)
	}
	for _, width := range []int64{390, 1280} {
		for _, scheme := range []string{"light", "dark"} {
			name := fmt.Sprintf("unsubscribed-%d-%s.png", width, scheme)
			if err := chromedp.Do(browser, view(width, scheme)); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			png, err := chromedp.Run(browser, chromedp.FullScreenshot(100))
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	t.Logf("%d screenshots in %s: %s", len(names), dir, strings.Join(names, " "))
}
