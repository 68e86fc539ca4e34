package cli

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/robaws-edge/robaws-edge/app"
)

// `robaws-edge webhooks …`: the secrets that verify deliveries. List them,
// add one Robaws showed you, register with Robaws, deactivate one.

var webhooksSubcommands = group{
	{"list", webhooksList},
	{"add", webhooksAdd},
	{"register", webhooksRegister},
	{"delete", webhooksDelete},
}

// webhooksList is `webhooks list [--json]`: config and stored secrets,
// hints only.
func webhooksList(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	asJSON := jsonFlag(fs)
	if err := noArgs(fs, args); err != nil {
		return err
	}
	list, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) ([]*app.Webhook, error) {
		return c.Webhooks(ctx)
	})
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSON(env.stdout, list)
	}
	t := newTable(env.stdout, "ID", "ENDPOINT", "SOURCE", "ADDED BY", "ACTIVE", "SECRET", "WEBHOOK ID", "URL", "CREATED")
	for _, w := range list {
		created := "-"
		if w.CreatedAt != nil {
			created = when(*w.CreatedAt)
		}
		t.row(w.ID, w.Endpoint, w.Source, addedBy(w.AddedBy), strconv.FormatBool(w.Active), w.SecretHint, orDash(w.WebhookID), orDash(w.URL), created)
	}
	return t.flush()
}

// webhooksAdd is `webhooks add --endpoint E --secret S|-`: store a secret
// Robaws showed the admin (- reads it from stdin, out of the shell's
// history).
func webhooksAdd(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	endpoint := fs.String("endpoint", "customers", "endpoint the secret signs")
	secret := fs.String("secret", "", "the signing secret (required; - reads it from stdin)")
	webhookID := fs.String("webhook-id", "", "the Robaws webhook id, if known")
	url := fs.String("url", "", "the URL registered at Robaws, if known")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *secret == "-" {
		line, err := bufio.NewReader(env.stdin).ReadString('\n')
		if err != nil && line == "" {
			return fmt.Errorf("read secret from stdin: %w", err)
		}
		*secret = strings.TrimSpace(line)
	}
	if *secret == "" {
		return usageError("flag -secret is required")
	}
	if n := len(strings.TrimSpace(*secret)); n < app.MinSecretLen {
		return usageError("flag -secret: %d characters, want at least %d: paste the whole secret Robaws showed you (a UUID)", n, app.MinSecretLen)
	}
	w, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (*app.Webhook, error) {
		return c.CreateWebhook(ctx, app.CreateWebhookRequest{Endpoint: *endpoint, Secret: *secret, WebhookID: *webhookID, URL: *url})
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "added secret %s for endpoint %s (%s)\n", w.ID, w.Endpoint, w.SecretHint)
	return nil
}

// webhooksRegister is `webhooks register --endpoint E [--url U] [--force]`:
// register the endpoint with Robaws and store the secret it answers with.
func webhooksRegister(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	endpoint := fs.String("endpoint", "", "endpoint to register (required)")
	url := fs.String("url", "", "URL Robaws should call (default: the tunnel's public URL + the endpoint's path)")
	force := fs.Bool("force", false, "register even if the endpoint already has an active registration")
	if err := noArgs(fs, args); err != nil {
		return err
	}
	if *endpoint == "" {
		return usageError("flag -endpoint is required")
	}
	w, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (*app.Webhook, error) {
		return c.RegisterWebhook(ctx, app.RegisterWebhookRequest{Endpoint: *endpoint, URL: *url, Force: *force})
	})
	// apiError leaves a 409 as the API wrote it.
	if ae := (*app.APIError)(nil); errors.As(err, &ae) && ae.Code == http.StatusConflict && ae.Message == app.NoPublicURLMessage {
		// The API names its "url" field; here it is a flag.
		return fmt.Errorf("no public URL to register: the tunnel is not online; give the URL Robaws should call with --url (this machine's public https address + the endpoint's path, such as /api/webhooks/robaws/customers), or bring the tunnel online (robaws-edge status says why it is not)")
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "registered %s at Robaws as webhook %s for %s; secret %s stored\n", w.Endpoint, orDash(w.WebhookID), orDash(w.URL), w.SecretHint)
	return nil
}

// webhooksDelete is `webhooks delete ID [--remote]`: deactivate a stored
// secret, and with --remote delete its registration at Robaws.
func webhooksDelete(ctx context.Context, env *cliEnv, fs *flag.FlagSet, args []string) error {
	configPath := configFlag(fs)
	remote := fs.Bool("remote", false, "also delete the registration at Robaws")
	id, err := oneArg(fs, args, "webhooks delete needs one ID (see `robaws-edge webhooks list`)")
	if err != nil {
		return err
	}
	w, err := ask(ctx, *configPath, func(ctx context.Context, c *app.Client) (*app.Webhook, error) {
		if *remote {
			return c.DeleteWebhookRemote(ctx, id)
		}
		return c.DeleteWebhook(ctx, id)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(env.stdout, "deactivated secret %s of endpoint %s\n", w.ID, w.Endpoint)
	if *remote {
		fmt.Fprintf(env.stdout, "deleted webhook %s at Robaws\n", orDash(w.WebhookID))
	}
	return nil
}

// addedBy renders Webhook.AddedBy for people.
func addedBy(p *string) string {
	switch orDash(p) {
	case app.AddedByRobaws:
		return "robaws (registration)"
	case app.AddedByHand:
		return "hand (pasted)"
	case app.AddedByConfig:
		return "config file"
	}
	return "not recorded"
}
