package app

import (
	"bufio"
	"io"
	"os"

	"github.com/gofiber/fiber/v2"
)

// handleBackup answers GET /api/backup with a consistent copy of the
// database file. The snapshot's read transaction is written out by
// fasthttp's stream writer after this handler returns, and closed when the
// copy ends or the client goes away (fasthttp closes the stream then).
func (h *handler) handleBackup(c *fiber.Ctx) error {
	if _, err := queryParams(c); err != nil {
		return err
	}
	f, size, err := h.db.Snapshot(c.UserContext())
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="robaws-edge.db"`)
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		defer os.Remove(f.Name())
		defer f.Close()
		if _, err := io.Copy(w, f); err != nil {
			h.logger.Warn("backup not completed", "error", err)
			return
		}
		if err := w.Flush(); err != nil {
			h.logger.Warn("backup not completed", "error", err)
		}
	})
	// SetBodyStreamWriter announces a chunked body; the size is known.
	c.Response().Header.SetContentLength(int(size))
	return nil
}
