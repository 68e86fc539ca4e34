package configs

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

// expandEnv replaces ${VAR} with the variable's value ("" when unset).
// A bare $ is left alone so secrets may contain it. It also returns the
// non-empty values it put in, which no error message may show.
func expandEnv(data []byte) ([]byte, []string) {
	var values []string
	out := envRef.ReplaceAllFunc(data, func(m []byte) []byte {
		v := os.Getenv(string(m[2 : len(m)-1]))
		if v != "" {
			values = append(values, v)
		}
		return []byte(v)
	})
	return out, values
}

// secretKeys are the keys whose values no message shows, whatever their
// source ("[]" stands for any list element, "*" for any endpoint).
var secretKeys = map[string]bool{
	"admin.token": true, "tunnel.authtoken": true, "robaws.password": true, "robaws.api_key": true,
	"endpoints.*.secrets": true, "endpoints.*.secrets[]": true,
	"forward.*.secret": true, "forward.*.token": true, "forward.*.credentials": true, "forward.*.headers.*": true,
	"forward.*.url": true,
}

// isSecretKey reports whether key (as decode names it, e.g.
// "forward.office-app.headers.X-Api-Key") is one of secretKeys.
func isSecretKey(key string) bool {
	parts := strings.Split(key, ".")
	if len(parts) >= 3 && (parts[0] == "endpoints" || parts[0] == "forward") {
		parts[1] = "*"
	}
	if len(parts) == 4 && parts[2] == "headers" {
		parts[3] = "*"
	}
	k := strings.Join(parts, ".")
	if i := strings.IndexByte(k, '['); i >= 0 {
		k = k[:i] + "[]"
	}
	return secretKeys[k]
}

// envKeys maps the keys whose value came from a ${VAR} (envPaths) to the
// names of the variables in it, as written.
type envKeys map[string][]string

// has reports whether key's value came from a ${VAR}.
func (e envKeys) has(key string) bool {
	_, one := e[key]
	_, all := e["*"]
	return one || all
}

// show is value quoted for a message about key, or, when it came from a
// ${VAR} or key is a secret, a note that it is not shown.
func (e envKeys) show(key, value string) string {
	if e.has(key) {
		return "a value from ${VAR}, not shown"
	}
	if isSecretKey(key) {
		return "a secret, not shown"
	}
	return strconv.Quote(value)
}

// unset names the variables of key that are unset or empty in this
// environment, as "${A} is not set" (or "is empty"), "" when none is: the
// one fact an admin needs to fix a value that expanded to nothing.
func (e envKeys) unset(key string) string {
	var parts []string
	for _, name := range e[key] {
		if v, ok := os.LookupEnv(name); !ok {
			parts = append(parts, "${"+name+"} is not set")
		} else if v == "" {
			parts = append(parts, "${"+name+"} is empty")
		}
	}
	return strings.Join(parts, ", ")
}

// nameUnset adds to a *KeyError the variables of its key that are unset or
// empty, unless its message names them already: "is empty" or "required"
// alone does not say which variable to set.
func (e envKeys) nameUnset(err error) error {
	var ke *KeyError
	if !errors.As(err, &ke) {
		return err
	}
	note := e.unset(ke.Key)
	if note == "" || strings.Contains(ke.Err.Error(), note) {
		return err
	}
	return &KeyError{Key: ke.Key, Err: fmt.Errorf("%w (%s in this environment)", ke.Err, note)}
}

// envPaths returns the dotted keys (as decode names them) whose value, or
// whose own name, contains a ${VAR} in the file as written, with the
// variables' names. When the file does not parse before expansion, "*"
// stands for every key.
func envPaths(data []byte) envKeys {
	if !envRef.Match(data) {
		return nil
	}
	var root yaml.Node
	if yaml.Unmarshal(data, &root) != nil {
		return envKeys{"*": nil}
	}
	paths := envKeys{}
	paths.walk(&root, "")
	return paths
}

// walk adds to e the keys under n, the value of key path, that hold a
// ${VAR}.
func (e envKeys) walk(n *yaml.Node, path string) {
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			e.walk(c, path)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			p := joinKey(path, k.Value)
			if envRef.MatchString(k.Value) || v.Kind == yaml.ScalarNode && envRef.MatchString(v.Value) {
				e[p] = append(envVars(k.Value), envVars(v.Value)...)
			}
			e.walk(v, p)
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			p := fmt.Sprintf("%s[%d]", path, i)
			if c.Kind == yaml.ScalarNode && envRef.MatchString(c.Value) {
				e[p] = envVars(c.Value)
			}
			e.walk(c, p)
		}
	}
}

// envVars names the variables of the ${VAR}s in s.
func envVars(s string) []string {
	var names []string
	for _, m := range envRef.FindAllStringSubmatch(s, -1) {
		names = append(names, m[1])
	}
	return names
}

func joinKey(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// decode decodes the (expanded) data strictly into cfg. It first checks
// the YAML tree against Config's types, so that an error names the key, the
// line and the accepted form, and shows a value only where that is safe
// (env.show); it never quotes yaml's own messages, which contain values.
func decode(data []byte, cfg *Config, env envKeys) error {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return fmt.Errorf("parse: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	if root.Kind == 0 {
		return nil // empty, or only comments: the defaults
	}
	for _, doc := range root.Content {
		if err := check(doc, "", reflect.TypeFor[Config](), env); err != nil {
			return err
		}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true) // check found unknown keys already; keep yaml strict too
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		// Only what check does not cover gets here, such as a key given
		// twice or a number out of range: neither shows a string value.
		return fmt.Errorf("parse: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// check walks n, the value of key path, against t, its type in Config, and
// returns the first key that is unknown or holds the wrong kind of value.
// An empty value (null) is always fine: it keeps the default.
func check(n *yaml.Node, path string, t reflect.Type, env envKeys) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		return nil
	}
	if n.Kind != nodeKind(t) {
		return wrongKind(n, path, t)
	}
	switch {
	case t == durationType:
		if _, err := ParseDuration(n.Value); err != nil {
			return keyErr(path, "%v (got %s, line %d)", err, env.show(path, n.Value), n.Line)
		}
	case t.Kind() == reflect.Struct:
		return checkFields(n, path, t, env)
	case t.Kind() == reflect.Map:
		return checkValues(n, path, t.Elem(), env)
	case t.Kind() == reflect.Slice:
		return checkItems(n, path, t.Elem(), env)
	default:
		// A single value: yaml's own conversion decides (strings take any
		// scalar, numbers and booleans their forms), but its message
		// quotes the value, so only the fact is used.
		if n.Decode(reflect.New(t).Interface()) != nil {
			return wrongKind(n, path, t)
		}
	}
	return nil
}

// nodeKind is the kind of YAML value a key of type t takes.
func nodeKind(t reflect.Type) yaml.Kind {
	switch {
	case t == durationType:
		return yaml.ScalarNode
	case t.Kind() == reflect.Struct, t.Kind() == reflect.Map:
		return yaml.MappingNode
	case t.Kind() == reflect.Slice:
		return yaml.SequenceNode
	}
	return yaml.ScalarNode
}

// wrongKind is the error for n, the value of key path, when it is not what
// t takes.
func wrongKind(n *yaml.Node, path string, t reflect.Type) error {
	if path == "" {
		return fmt.Errorf("parse: the file must be a mapping of keys such as the example config (line %d)", n.Line)
	}
	return keyErr(path, "cannot unmarshal %s: must be %s (line %d)", yamlKind(n), acceptedForm(t), n.Line)
}

// checkValues checks the values of n, a mapping, against elem, the type of
// a map's values.
func checkValues(n *yaml.Node, path string, elem reflect.Type, env envKeys) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if err := check(n.Content[i+1], joinKey(path, n.Content[i].Value), elem, env); err != nil {
			return err
		}
	}
	return nil
}

// checkItems checks the items of n, a list, against elem, the type of a
// slice's items.
func checkItems(n *yaml.Node, path string, elem reflect.Type, env envKeys) error {
	for i, c := range n.Content {
		if err := check(c, fmt.Sprintf("%s[%d]", path, i), elem, env); err != nil {
			return err
		}
	}
	return nil
}

// checkFields checks the keys of n, a mapping, against the fields of the
// struct t: each must be one of them and hold what it takes.
func checkFields(n *yaml.Node, path string, t reflect.Type, env envKeys) error {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		ft := fieldType(t, k.Value)
		if ft == nil {
			return fmt.Errorf("unknown key %q in %s (line %d)", k.Value, sectionName(t.Name()), k.Line)
		}
		if err := check(v, joinKey(path, k.Value), ft, env); err != nil {
			return err
		}
	}
	return nil
}

// fieldType is the type of key inside the struct t (by yaml tag), or nil.
func fieldType(t reflect.Type, key string) reflect.Type {
	for i := range t.NumField() {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("yaml"), ","); name == key {
			return f.Type
		}
	}
	return nil
}

// yamlKind names the kind of a YAML value for a message.
func yamlKind(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	switch tag := strings.TrimPrefix(n.ShortTag(), "!!"); tag {
	case "str":
		return "a string"
	case "int", "float":
		return "a number"
	case "bool":
		return "true or false"
	default:
		return "!!" + tag
	}
}

// acceptedForm describes what a key of type t takes.
func acceptedForm(t reflect.Type) string {
	if t == durationType {
		return durationForms
	}
	switch t.Kind() {
	case reflect.String:
		return "a single value (a string)"
	case reflect.Int, reflect.Int64:
		return "a whole number"
	case reflect.Float64:
		return "a number"
	case reflect.Bool:
		return "true or false"
	case reflect.Slice:
		return "a list such as [a, b]"
	case reflect.Map, reflect.Struct:
		return "a mapping of keys"
	}
	return t.String()
}

// sectionName names the section a struct type of Config stands for.
func sectionName(typ string) string {
	names := map[string]string{
		"Config": "the top level", "LogConfig": "log", "ReceiverConfig": "receiver", "AdminConfig": "admin",
		"TunnelConfig": "tunnel", "EndpointConfig": "an endpoint", "RobawsConfig": "robaws",
		"CustomersConfig": "customers", "RetentionConfig": "retention", "ForwardConfig": "a forward destination",
	}
	if n, ok := names[typ]; ok {
		return n
	}
	return typ
}

// scrub replaces any of values (expanded ${VAR}s, secrets) that still
// appears in err's text. It is the last guard: messages are written not to
// show them in the first place. Values shorter than 4 bytes are left, as
// they would match ordinary words.
func scrub(err error, values []string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	changed := false
	for _, v := range values {
		if len(v) >= 4 && strings.Contains(msg, v) {
			msg, changed = strings.ReplaceAll(msg, v, "(value not shown)"), true
		}
	}
	if !changed {
		return err
	}
	var ke *KeyError
	if errors.As(err, &ke) {
		return &KeyError{Key: ke.Key, Err: errors.New(strings.TrimPrefix(msg, ke.Key+": "))}
	}
	return errors.New(msg)
}

// secretValues returns the secrets' values, for scrub.
func (c *Config) secretValues() []string {
	vs := []string{c.Admin.Token, c.Tunnel.Authtoken, c.Robaws.Password, c.Robaws.APIKey}
	for _, ep := range c.Endpoints {
		vs = append(vs, ep.Secrets...)
	}
	return append(vs, c.forwardSecrets()...)
}
