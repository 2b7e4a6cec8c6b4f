package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"html/template"
	"net/http"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static/style.css
var css []byte

var templates = template.Must(template.ParseFS(templateFS, "templates/*.html"))

// cssPath names the stylesheet by its content, so browsers may keep it for
// a year and still fetch a new one after an upgrade.
var cssPath = func() string {
	sum := sha256.Sum256(css)
	return "/callback/static/style.css?v=" + hex.EncodeToString(sum[:6])
}()

func serveCSS(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/css; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	w.Write(css)
}
