package systemtest_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	gateway "shop/gateway/app"
	"shop/gateway/httpapi"
	"shop/service"
	"shop/stack/devissuer"
	"shop/systemtest/system"
)

// streamPath is the route of the status stream that the page follows.
const streamPath = "/api/v1/orders/stream"

// pageStepTimeout bounds one step of the page that needs no payment (a
// form's answer, a reconnect).
const pageStepTimeout = time.Minute

// TestShopperPage drives the shopper's page at / in headless Chromium
// against the whole system, with the keyboard where a shopper would: sign
// in, open an account, top up, place one order that is paid and one that is
// cancelled for lack of money, and see both statuses change on the page
// without a reload; errors in words; then the status stream dropped, an
// order paid while it is down, and the page resuming the stream exactly
// where it stopped. The browser reaches the gateway through a proxy that can
// drop the stream. Screenshots are kept in the directory the test logs
// ($TEST_ARTIFACTS/TestShopperPage when set); with SHOP_PAGE_SCREENSHOT=path
// the final one is also written there (docs/page.png, shown in docs/architecture.md).
func TestShopperPage(t *testing.T) {
	s := startShop(t, system.Options{})
	proxy := newStreamProxy(t, s.URL)
	b := newBrowser(t)
	const user = "alice"

	b.do(t, pageStepTimeout, "open the page",
		chromedp.Navigate(proxy.URL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#sign-in-form`)),
		// Lost on a reload: checked at the end.
		chromedp.Evaluate[chromedp.Void](`window.__firstLoad = true`),
	)
	b.checkLabels(t)

	// Sign in and open an account, with the keyboard.
	b.do(t, pageStepTimeout, "sign in",
		chromedp.SendKeys(chromedp.CSS(`#user-id`), user+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`#no-account`)),
		chromedp.Focus(chromedp.CSS(`#open-account`)),
		chromedp.KeyEvent("\r"),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="0"]`)),
	)
	if got := b.text(t, `#session-user`); got != user {
		t.Errorf("signed in as %q, want %q", got, user)
	}
	// Errors in words: one the page finds, one the API answers. An edit
	// clears them.
	b.do(t, pageStepTimeout, "an amount that is not one",
		chromedp.SendKeys(chromedp.CSS(`#order-amount`), "a lot\r"),
		chromedp.WaitVisible(chromedp.CSS(`#order-amount[aria-invalid="true"]`)),
	)
	if got, want := b.text(t, `#order-error`), "Enter an amount in rubles, such as 500 or 99.90."; got != want {
		t.Errorf("order error %q, want %q", got, want)
	}
	b.do(t, pageStepTimeout, "a top-up over the API's limit",
		chromedp.SendKeys(chromedp.CSS(`#top-up-amount`), "20000000000\r"),
		chromedp.WaitVisible(chromedp.CSS(`#top-up-amount[aria-invalid="true"]`)),
	)
	if got, want := b.text(t, `#top-up-error`), `^That was not accepted: amount must be .+\.$`; !regexp.MustCompile(want).MatchString(got) {
		t.Errorf("top-up error %q, want it to match %s", got, want)
	}
	b.clear(t, `#order-amount`)
	b.clear(t, `#top-up-amount`)
	b.do(t, pageStepTimeout, "errors cleared by the edit",
		chromedp.WaitNotVisible(chromedp.CSS(`#order-error`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#top-up-error`)),
	)

	b.do(t, pageStepTimeout, "top up",
		chromedp.SendKeys(chromedp.CSS(`#top-up-amount`), "100\r"),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="10000"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="live"]`)),
	)
	if got, want := b.text(t, `#balance`), "100.00\u00a0₽"; got != want {
		t.Errorf("balance shown as %q, want %q", got, want)
	}

	// One order paid, one cancelled: each status changes on the page.
	paid := b.placeOrder(t, "sunscreen", "25", 1)
	b.waitStatus(t, paid, "PAID")
	b.do(t, pageStepTimeout, "the balance after the payment",
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="7500"]`)))
	cancelled := b.placeOrder(t, "yacht", "9999.99", 2)
	b.waitStatus(t, cancelled, "CANCELLED")
	if got, want := b.text(t, `tr[data-order-id="`+cancelled+`"] .status`), "Cancelled: not enough money in the account"; got != want {
		t.Errorf("cancelled order shown as %q, want %q", got, want)
	}
	history := evaluate[map[string][]string](t, b, "the statuses each row showed", `window.__statuses`)
	for id, want := range map[string][]string{paid: {"PENDING", "PAID"}, cancelled: {"PENDING", "CANCELLED"}} {
		if got := history[id]; !slices.Equal(got, want) {
			t.Errorf("statuses shown for order %s: %v, want %v (placed, then changed by the stream)", id, got, want)
		}
	}

	// The stream dropped while an order is placed and paid elsewhere: the
	// page resumes from the last event it read and shows what it missed.
	lastID := proxy.lastID(t)
	proxy.hold()
	proxy.drop()
	b.do(t, pageStepTimeout, "the page sees the stream dropped",
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="reconnecting"]`)))
	var missed httpapi.Order
	if err := s.call(context.Background(), "POST", "/api/v1/orders", user, `{"amount":1000,"description":"beach towel"}`, http.StatusCreated, &missed); err != nil {
		t.Fatal(err)
	}
	if r := s.waitOrder(t, missed); r.Status != "PAID" {
		t.Fatalf("order placed while the page was cut off: %s, want PAID", r.Status)
	}
	proxy.release()
	b.waitStatus(t, missed.ID, "PAID")
	b.do(t, pageStepTimeout, "the stream is live again with the balance after the missed payment",
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="live"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="6500"]`)),
	)
	proxy.checkResumed(t, lastID)
	if got := evaluate[int](t, b, "order rows", `document.querySelectorAll("#orders tr").length`); got != 3 {
		t.Errorf("%d order rows, want 3", got)
	}

	// A resume too far behind (here forced to 0) is a reset: the page
	// takes the current state from it, the order paid meanwhile included.
	proxy.hold()
	proxy.resetNext()
	proxy.drop()
	b.do(t, pageStepTimeout, "the page sees the stream dropped again",
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="reconnecting"]`)))
	var reset httpapi.Order
	if err := s.call(context.Background(), "POST", "/api/v1/orders", user, `{"amount":500,"description":"flip-flops"}`, http.StatusCreated, &reset); err != nil {
		t.Fatal(err)
	}
	if r := s.waitOrder(t, reset); r.Status != "PAID" {
		t.Fatalf("order placed before the reset: %s, want PAID", r.Status)
	}
	proxy.release()
	b.waitStatus(t, reset.ID, "PAID")
	b.do(t, pageStepTimeout, "the balance after the payment the reset brought",
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="live"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="6000"]`)),
	)
	if got := evaluate[int](t, b, "order rows", `document.querySelectorAll("#orders tr").length`); got != 4 {
		t.Errorf("%d order rows after the reset, want 4", got)
	}

	if !evaluate[bool](t, b, "no reload", `window.__firstLoad === true`) {
		t.Error("the page was reloaded; every change must arrive without one")
	}
	b.checkClean(t)
	png := b.screenshot(t, "page.png")
	if path := os.Getenv("SHOP_PAGE_SCREENSHOT"); path != "" && png != nil {
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestShopperPageDevSignIn signs in to the page as `make run` configures
// the gateway: AUTH_MODE=jwt with the development issuer, whose token the
// page asks for at /dev/token and then sends as a bearer token, the status
// stream included. The session survives a reload; signing out ends it.
func TestShopperPageDevSignIn(t *testing.T) {
	s := startShop(t, system.Options{})
	gatewayURL := startDevIssuerGateway(t, s)
	b := newBrowser(t)
	const user = "bob"

	b.do(t, pageStepTimeout, "sign in through the development issuer",
		chromedp.Navigate(gatewayURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`#user-id`)),
		chromedp.SendKeys(chromedp.CSS(`#user-id`), user+"\r"),
		chromedp.WaitVisible(chromedp.CSS(`#no-account`)),
		chromedp.Click(chromedp.CSS(`#open-account`)),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="0"]`)),
		chromedp.SendKeys(chromedp.CSS(`#top-up-amount`), "50\r"),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="5000"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="live"]`)),
	)
	paid := b.placeOrder(t, "ice cream", "2.50", 1)
	b.waitStatus(t, paid, "PAID")
	b.do(t, pageStepTimeout, "the balance after the payment",
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="4750"]`)))

	b.do(t, pageStepTimeout, "reload",
		chromedp.Reload(),
		chromedp.WaitVisible(chromedp.CSS(`#balance[data-kopecks="4750"]`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders tr[data-order-id=%q][data-status="PAID"]`, paid))),
		chromedp.WaitVisible(chromedp.CSS(`#stream-state[data-state="live"]`)),
	)
	if got := b.text(t, `#session-user`); got != user {
		t.Errorf("after a reload signed in as %q, want %q", got, user)
	}
	b.do(t, pageStepTimeout, "sign out",
		chromedp.Click(chromedp.CSS(`#sign-out`)),
		chromedp.WaitVisible(chromedp.CSS(`#user-id`)),
		chromedp.WaitNotVisible(chromedp.CSS(`#shop`)),
	)
	if n := evaluate[int](t, b, "orders left", `document.querySelectorAll("#orders tr").length`); n != 0 {
		t.Errorf("%d order rows left after signing out, want 0", n)
	}
	if got := evaluate[string](t, b, "session", `sessionStorage.getItem("shop.session") ?? ""`); got != "" {
		t.Errorf("session kept after signing out: %s", got)
	}
	b.checkClean(t)
}

// startDevIssuerGateway runs a gateway over s's services as `make run`
// does: AUTH_MODE=jwt, the development issuer's key and JWK Set. It returns
// its URL; it is stopped when the test ends.
func startDevIssuerGateway(t *testing.T, s *shop) string {
	t.Helper()
	_, keyPath, jwksPath, err := devissuer.Ensure(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return startGatewayWith(t, s, func(cfg *gateway.Config) {
		cfg.Auth.Mode = service.AuthJWT
		cfg.Auth.JWKSFile, cfg.Auth.DevIssuerKey = jwksPath, keyPath
		cfg.Auth.Issuer, cfg.Auth.Audience = devissuer.Issuer, devissuer.Audience
	}).URL
}

// --- the browser ---

// browser is one headless Chromium tab and what it reported: uncaught
// exceptions and console errors.
type browser struct {
	ctx       context.Context
	artifacts string

	mu       sync.Mutex
	problems []string
}

// recorderJS runs in every document before the page's own scripts: it
// records Content-Security-Policy violations and, per order row, each
// status the row showed.
const recorderJS = `
window.__violations = [];
document.addEventListener("securitypolicyviolation", (e) =>
  window.__violations.push(e.violatedDirective + " " + (e.blockedURI || e.sample || "")));
window.__statuses = {};
const __record = (el) => {
  if (!(el instanceof Element) || !el.dataset.orderId) return;
  const seen = (window.__statuses[el.dataset.orderId] ||= []);
  if (seen.at(-1) !== el.dataset.status) seen.push(el.dataset.status);
};
new MutationObserver((ms) => {
  for (const m of ms) m.type === "attributes" ? __record(m.target) : m.addedNodes.forEach(__record);
}).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ["data-status"] });
`

// newBrowser starts headless Chromium (from PATH: chromium, as Debian
// names it, or chromium-browser, google-chrome) for the test; it is closed
// when the test ends, after a screenshot and the page's text are kept when
// the test failed.
func newBrowser(t *testing.T) *browser {
	t.Helper()
	execPath := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			execPath = p
			break
		}
	}
	if execPath == "" {
		t.Fatal("the page test needs Chromium: install the Debian package chromium (.ci/run does)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.WindowSize(1000, 720),
	)
	if os.Geteuid() == 0 {
		opts = append(opts, chromedp.NoSandbox) // Chromium refuses its sandbox as root
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx)
	b := &browser{ctx: ctx, artifacts: artifactsDir(t)}
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
	})
	// The first call starts the browser; it must have no deadline (the
	// deadline would stop the browser), the allocator bounds its start.
	_, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: recorderJS})
	if err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	err = chromedp.Listen(ctx, func(ev any) {
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			desc := d.Text
			if d.Exception != nil {
				desc += " " + d.Exception.Description
			}
			b.problem(fmt.Sprintf("uncaught exception at %s:%d: %s", d.URL, d.LineNumber+1, desc))
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var args []string
				for _, a := range ev.Args {
					args = append(args, strings.TrimSpace(string(a.Value)+" "+a.Description))
				}
				b.problem("console.error: " + strings.Join(args, " "))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if !t.Failed() {
			return
		}
		b.screenshot(t, "failure.png")
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		if text, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body.innerText`)); err == nil {
			t.Logf("the page's text at the failure:\n%s", text)
		}
	})
	return b
}

// artifactsDir is where the test keeps its screenshots: $TEST_ARTIFACTS/<test
// name>, or a new directory that outlives the test. It logs the directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("TEST_ARTIFACTS")
	var err error
	if dir != "" {
		dir = filepath.Join(dir, t.Name())
		err = os.MkdirAll(dir, 0o755)
	} else {
		dir, err = os.MkdirTemp("", "shop-page-test-")
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots in %s", dir)
	return dir
}

func (b *browser) problem(p string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.problems = append(b.problems, p)
}

// do runs steps, failing the test with what when they fail or take longer
// than timeout.
func (b *browser) do(t *testing.T, timeout time.Duration, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("page: %s: %v", what, err)
	}
}

// value runs action and returns its value, failing the test with what when
// it fails or takes longer than pageStepTimeout.
func value[T any](t *testing.T, b *browser, what string, action chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageStepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, action)
	if err != nil {
		t.Fatalf("page: %s: %v", what, err)
	}
	return v
}

// evaluate returns the value of the JavaScript expression in the page.
func evaluate[T any](t *testing.T, b *browser, what, expression string) T {
	t.Helper()
	return value(t, b, what, chromedp.Evaluate[T](expression))
}

// text returns the text of the element that the CSS selector sel selects,
// once it is visible. The text is read by a query of its own, in one
// evaluation: the page may replace the element meanwhile (a row filled
// again by the stream), and a node found earlier would then be detached.
func (b *browser) text(t *testing.T, sel string) string {
	t.Helper()
	b.do(t, pageStepTimeout, "wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	return strings.TrimSpace(evaluate[string](t, b, "text of "+sel,
		fmt.Sprintf(`document.querySelector(%q)?.innerText ?? ""`, sel)))
}

// clear empties the input that the CSS selector sel selects, as a shopper
// deleting its text would (the page sees an input event).
func (b *browser) clear(t *testing.T, sel string) {
	t.Helper()
	evaluate[chromedp.Void](t, b, "clear "+sel, fmt.Sprintf(
		`(() => { const e = document.querySelector(%q); e.value = ""; e.dispatchEvent(new Event("input", { bubbles: true })); })()`, sel))
}

// placeOrder places an order with the form and returns its id once the
// page lists it as the newest of n orders.
func (b *browser) placeOrder(t *testing.T, description, rubles string, n int) string {
	t.Helper()
	b.do(t, pageStepTimeout, "place the order "+description,
		chromedp.SendKeys(chromedp.CSS(`#order-description`), description),
		chromedp.SendKeys(chromedp.CSS(`#order-amount`), rubles+"\r"),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders tr:nth-child(%d)`, n))),
	)
	// Read in one evaluation: the stream may fill the row again (its
	// status) at any moment, which replaces its cells, so a cell found by
	// one query may be gone when the next reads it.
	row := evaluate[struct{ Description, ID string }](t, b, "newest order row", `(() => {
		const row = document.querySelector("#orders tr:first-child");
		return { description: row?.querySelector(".description")?.textContent.trim() ?? "", id: row?.dataset.orderId ?? "" };
	})()`)
	if row.Description != description {
		t.Fatalf("newest order row is %q, want %q", row.Description, description)
	}
	if row.ID == "" {
		t.Fatal("the newest order row has no data-order-id")
	}
	return row.ID
}

// waitStatus waits until the page shows the order with status.
func (b *browser) waitStatus(t *testing.T, id, status string) {
	t.Helper()
	b.do(t, settleTimeout, "order "+id+" shown "+status,
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`#orders tr[data-order-id=%q][data-status=%q]`, id, status))))
}

// checkLabels fails the test for a form control without a label or a
// button without a name, as an accessibility checker would.
func (b *browser) checkLabels(t *testing.T) {
	t.Helper()
	unlabelled := evaluate[[]string](t, b, "labels", `[
		...[...document.querySelectorAll("input, textarea, select")].filter((e) => e.labels.length === 0).map((e) => e.id || e.outerHTML),
		...[...document.querySelectorAll("button")].filter((e) => e.textContent.trim() === "" && !e.getAttribute("aria-label")).map((e) => e.outerHTML),
	]`)
	if len(unlabelled) > 0 {
		t.Errorf("controls without a label or name: %v", unlabelled)
	}
}

// checkClean fails the test for a Content-Security-Policy violation, an
// uncaught exception or a console error of the page.
func (b *browser) checkClean(t *testing.T) {
	t.Helper()
	for _, v := range evaluate[[]string](t, b, "violations", `window.__violations`) {
		t.Errorf("Content-Security-Policy violation: %s", v)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range b.problems {
		t.Errorf("page: %s", p)
	}
}

// screenshot keeps a screenshot of the whole page as name in the artifacts
// directory and returns it; nil when it could not be taken.
func (b *browser) screenshot(t *testing.T, name string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, pageStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return nil
	}
	path := filepath.Join(b.artifacts, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
	t.Logf("screenshot: %s", path)
	return png
}

// --- the proxy between the browser and the gateway ---

// streamProxy is the browser's way to the gateway: a reverse proxy that can
// drop the open status streams and hold new ones back, as a broken network
// would. It records the Last-Event-ID each stream request resumed from and
// the id of each event it relayed.
type streamProxy struct {
	URL string

	mu      sync.Mutex
	streams map[int]context.CancelFunc
	next    int
	gate    chan struct{} // closed while streams may pass
	resumes []string      // Last-Event-ID of each stream request that passed
	ids     []string      // ids of the events relayed, in order
	// dropped is len(resumes) and len(ids) at the last drop.
	droppedResumes, droppedIDs int
	// fromZero makes the next stream request resume from 0 (a reset),
	// whatever its Last-Event-ID.
	fromZero bool
}

func newStreamProxy(t *testing.T, target string) *streamProxy {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	p := &streamProxy{streams: map[int]context.CancelFunc{}, gate: make(chan struct{})}
	close(p.gate)
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == streamPath && resp.StatusCode == http.StatusOK {
			resp.Body = &eventIDReader{ReadCloser: resp.Body, record: p.recordID}
		}
		return nil
	}
	rp.ErrorLog = nil
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != streamPath {
			rp.ServeHTTP(w, r)
			return
		}
		p.serveStream(w, r, rp)
	}), ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	t.Cleanup(func() {
		p.release()
		p.drop()
		srv.Close()
	})
	p.URL = "http://" + ln.Addr().String()
	return p
}

// serveStream relays one stream request once the gate is open, until the
// stream ends or drop cuts it (the client then sees its connection break).
func (p *streamProxy) serveStream(w http.ResponseWriter, r *http.Request, rp *httputil.ReverseProxy) {
	p.mu.Lock()
	gate := p.gate
	p.mu.Unlock()
	select {
	case <-gate:
	case <-r.Context().Done():
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	p.mu.Lock()
	if p.fromZero {
		p.fromZero = false
		r.Header.Set("Last-Event-ID", "0")
	}
	p.resumes = append(p.resumes, r.Header.Get("Last-Event-ID"))
	id := p.next
	p.next++
	p.streams[id] = cancel
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.streams, id)
		p.mu.Unlock()
		cancel()
	}()
	rp.ServeHTTP(w, r.WithContext(ctx))
}

// resetNext makes the next stream request resume from 0, which the
// gateway answers with a reset.
func (p *streamProxy) resetNext() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fromZero = true
}

// hold makes new stream requests wait until release.
func (p *streamProxy) hold() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.gate = make(chan struct{})
}

// release lets the held stream requests, and new ones, through.
func (p *streamProxy) release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.gate:
	default:
		close(p.gate)
	}
}

// drop breaks the connection of every open stream.
func (p *streamProxy) drop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.droppedResumes, p.droppedIDs = len(p.resumes), len(p.ids)
	for _, cancel := range p.streams {
		cancel()
	}
}

func (p *streamProxy) recordID(id string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.ids = append(p.ids, id)
}

// lastID returns the id of the last event relayed; it fails the test when
// none was.
func (p *streamProxy) lastID(t *testing.T) string {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.ids) == 0 {
		t.Fatal("no event with an id reached the page")
	}
	return p.ids[len(p.ids)-1]
}

// checkResumed checks that the first stream request had no Last-Event-ID,
// that the requests after the last drop resumed from lastID (the last event
// read before it), that events came after it, and that no event id was
// relayed twice. Numeric ids must increase.
func (p *streamProxy) checkResumed(t *testing.T, lastID string) {
	t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.resumes) == 0 || p.resumes[0] != "" {
		t.Fatalf("stream requests resumed from %q, want a first one without Last-Event-ID", p.resumes)
	}
	after := p.resumes[p.droppedResumes:]
	if len(after) == 0 {
		t.Fatal("no stream request after the drop")
	}
	for i, got := range after {
		if got != lastID {
			t.Errorf("reconnection %d resumed from Last-Event-ID %q, want %q, the last id read", i+1, got, lastID)
		}
	}
	if len(p.ids) == p.droppedIDs {
		t.Errorf("no event after the reconnection (ids %v)", p.ids)
	}
	seen := map[string]bool{}
	prev := int64(-1)
	for _, id := range p.ids {
		if seen[id] {
			t.Errorf("event %s relayed twice (ids %v)", id, p.ids)
		}
		seen[id] = true
		if n, err := strconv.ParseInt(id, 10, 64); err == nil {
			if n <= prev {
				t.Errorf("event id %d after %d (ids %v)", n, prev, p.ids)
			}
			prev = n
		}
	}
}

// eventIDReader passes an event stream through and reports the id of each
// event with data (not the bare "id:" line with which a stream opens).
type eventIDReader struct {
	io.ReadCloser
	record func(string)
	buf    []byte
	// id and data are those of the frame being read.
	id   string
	data bool
}

func (r *eventIDReader) Read(b []byte) (int, error) {
	n, err := r.ReadCloser.Read(b)
	r.buf = append(r.buf, b[:n]...)
	for {
		i := bytes.IndexByte(r.buf, '\n')
		if i < 0 {
			break
		}
		line := strings.TrimSuffix(string(r.buf[:i]), "\r")
		r.buf = r.buf[i+1:]
		switch {
		case line == "":
			if r.data {
				r.record(r.id)
			}
			r.id, r.data = "", false
		case strings.HasPrefix(line, "id:"):
			r.id = strings.TrimPrefix(strings.TrimPrefix(line, "id:"), " ")
		case strings.HasPrefix(line, "data:"):
			r.data = true
		}
	}
	return n, err
}
