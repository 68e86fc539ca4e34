package app

import (
	"embed"
	"fmt"
	"html/template"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/robaws-edge/robaws-edge/store"
)

// parsePages parses each page template together with the layout, once at
// start; a broken template is a programming error and panics in every test.
func parsePages() map[string]*template.Template {
	names, err := consoleFS.ReadDir("templates")
	if err != nil {
		panic(err)
	}
	pages := map[string]*template.Template{}
	for _, e := range names {
		name := strings.TrimSuffix(e.Name(), path.Ext(e.Name()))
		if name == "layout" {
			continue
		}
		pages[name] = template.Must(template.New(name).Funcs(consoleFuncs).ParseFS(consoleFS, "templates/layout.html", "templates/"+e.Name()))
	}
	return pages
}

// consoleFuncs are the templates' helpers.
var consoleFuncs = template.FuncMap{
	"ts":      timeHTML,
	"str":     orDash,
	"deref":   func(p *uint64) uint64 { return *p },
	"pathesc": url.PathEscape,
	"val":     changeValue,
	"address": addressLine,
	"isTest":  store.IsTestID,
	"addedBy": addedByText,
	"sigAge":  func(age *int64) string { return SignatureAge(*age) },
	"bytes":   byteSize,
	"uptime":  func(s int64) string { return (time.Duration(s) * time.Second).String() },
	"unix":    func(s int64) template.HTML { return timeHTML(time.Unix(s, 0)) },
	"micros":  func(us int64) string { return (time.Duration(us) * time.Microsecond).Round(time.Microsecond).String() },
}

// eventTable is the "table" template's data: a list of log entries, live
// over the log stream when Stream is set.
type eventTable struct {
	Events []*store.LogEntry
	// Stream is the log stream's URL; "" for a list that stays as it is.
	Stream string
	// Max caps the live list's rows; 0 is no cap.
	Max int
	// Empty is what the list says when it has no entry.
	Empty string
}

// timeHTML renders a time for people: a <time> element with the instant
// in RFC 3339 and UTC text, which console.js rewrites to the browser's
// local time with its offset. Without JavaScript the UTC text stays.
func timeHTML(v any) template.HTML {
	var t time.Time
	switch v := v.(type) {
	case time.Time:
		t = v
	case *time.Time:
		if v != nil {
			t = *v
		}
	}
	if t.IsZero() {
		return "—"
	}
	t = t.UTC()
	return template.HTML(fmt.Sprintf(`<time datetime="%s">%s</time>`, t.Format(time.RFC3339), t.Format("2006-01-02 15:04:05 UTC")))
}

// orDash renders an optional string, "—" when null or empty.
func orDash(s *string) string {
	if s == nil || *s == "" {
		return "—"
	}
	return *s
}

// changeValue renders one side of a history change.
func changeValue(v any) string {
	switch v := v.(type) {
	case nil:
		return "—"
	case string:
		if v == "" {
			return "—"
		}
		return v
	case bool:
		if v {
			return "yes"
		}
		return "no"
	}
	return fmt.Sprint(v)
}

// addedByText says where a secret came from (Webhook.AddedBy).
func addedByText(p *string) string {
	switch orDash(p) {
	case AddedByRobaws:
		return "Robaws (registration)"
	case AddedByHand:
		return "by hand (pasted)"
	case AddedByConfig:
		return "config file"
	}
	return "not recorded"
}

// addressLine renders an address on one line (the CLI's customers show
// uses the same store.Address.OneLine).
func addressLine(a store.Address) string {
	if line := a.OneLine(); line != "" {
		return line
	}
	return "—"
}

// byteSize renders a size in bytes for people.
func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.0f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}

//go:embed templates/*.html static/*
var consoleFS embed.FS
