package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/signet-auth/signet/issuer"
	"github.com/signet-auth/signet/issuer/store"
)

// errEmailFindings makes check-emails exit with status 1 once its report
// is printed.
var errEmailFindings = errors.New("check-emails: some stored emails need attention")

// emailFinding is one account whose stored email needs an operator.
type emailFinding struct {
	ID    string `json:"id"`
	Email string `json:"email"`
	// Problem says what is wrong; Normal is the normal form when there is
	// one and it differs; LooksLike lists the other accounts with the same
	// confusable skeleton.
	Problem   string   `json:"problem"`
	Normal    string   `json:"normal_form,omitempty"`
	LooksLike []string `json:"looks_like,omitempty"`
}

func runCheckEmails(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("check-emails", flag.ContinueOnError)
	src := addSettings(fs, getenv)
	asJSON := fs.Bool("json", false, "print JSON")
	commandUsage(fs, "signet check-emails [flags]", `Report accounts whose stored email breaks the rules sign-up now applies:
not valid, not in normal form (NFC, lower case, ASCII domain, no invisible
or direction characters), or rendering like another account's email (the
same Unicode TR 39 confusable skeleton). Emails are printed with escapes
(\u200b) so invisible characters show. Exit status 1 when any is found.`)
	if err := parseFlags(fs, args, stdout, stderr); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return errUsage
	}
	cfg, err := loadConfig(src)
	if err != nil {
		return err
	}
	db, err := openDB(ctx, cfg, existingStore)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := checkSchema(db, cfg, existingStore, false); err != nil {
		return err
	}
	recs, err := db.EmailRecords(ctx)
	if err != nil {
		return err
	}
	findings := checkEmails(recs)
	if *asJSON {
		if findings == nil {
			findings = []emailFinding{}
		}
		if err := json.NewEncoder(stdout).Encode(findings); err != nil {
			return err
		}
	} else {
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "ID\tEMAIL\tPROBLEM")
		for _, f := range findings {
			problem := f.Problem
			if f.Normal != "" {
				problem += "; normal form " + strconv.QuoteToASCII(f.Normal)
			}
			if len(f.LooksLike) > 0 {
				problem += "; looks like " + strings.Join(f.LooksLike, ", ")
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", f.ID, strconv.QuoteToASCII(f.Email), problem)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d of %d accounts need attention\n", len(findings), len(recs))
	}
	if len(findings) > 0 {
		return errEmailFindings
	}
	return nil
}

// checkEmails returns the accounts whose email is invalid, not in normal
// form, shares its confusable skeleton with another account's, or lacks
// its stored skeleton, in the order of recs (oldest first).
func checkEmails(recs []store.EmailRecord) []emailFinding {
	bySkeleton := map[string][]string{}
	for _, r := range recs {
		sk := issuer.EmailSkeleton(r.Email)
		bySkeleton[sk] = append(bySkeleton[sk], r.ID)
	}
	var out []emailFinding
	for _, r := range recs {
		f := emailFinding{ID: r.ID, Email: r.Email}
		var problems []string
		normal, err := issuer.NormalizeEmail(r.Email)
		switch {
		case err != nil:
			problems = append(problems, "not valid: "+issuer.AsError(err).Description)
		case normal != r.Email:
			problems = append(problems, "not in normal form")
			f.Normal = normal
		}
		sk := issuer.EmailSkeleton(r.Email)
		for _, id := range bySkeleton[sk] {
			if id != r.ID {
				f.LooksLike = append(f.LooksLike, id)
			}
		}
		switch {
		case len(f.LooksLike) > 0:
			problems = append(problems, "look-alike of other accounts")
		case r.Skeleton != sk:
			problems = append(problems, "skeleton not stored (signet migrate up fills it in)")
		}
		if len(problems) > 0 {
			f.Problem = strings.Join(problems, "; ")
			out = append(out, f)
		}
	}
	return out
}
