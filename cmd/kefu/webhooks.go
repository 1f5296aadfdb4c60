package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/kefu-dev/kefu"
)

// runWebhooks lists webhook subscriptions and deliveries and redelivers
// dead letters, reading the data directory (the server must be stopped;
// while it runs, its API serves the same with an admin key: GET
// /v1/webhooks, GET /v1/deliveries, POST /v1/deliveries/ID/redeliver). A
// delivery made pending here is sent when the server next runs.
func runWebhooks(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("webhooks", flag.ContinueOnError)
	var c common
	c.register(fs)
	state := fs.String("state", "", "deliveries: pending, delivered or dead")
	webhook := fs.String("webhook", "", "deliveries: of this subscription")
	limit := fs.Int("limit", 50, "deliveries: how many, newest first")
	asJSON := fs.Bool("json", false, "print JSON")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: kefu webhooks list | deliveries [--state dead] [--webhook ID] | redeliver DELIVERY_ID...")
		fs.PrintDefaults()
	}
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) == 0 || (pos[0] == "redeliver") != (len(pos) > 1) || (pos[0] != "list" && pos[0] != "deliveries" && pos[0] != "redeliver") {
		fs.Usage()
		return errUsage
	}
	a, err := newApp(c)
	if kefu.ErrorCode(err) == kefu.ECONFLICT {
		return kefu.Errorf(kefu.ECONFLICT, "%s; while it runs, use its API with an admin key: GET /v1/webhooks, GET /v1/deliveries, POST /v1/deliveries/ID/redeliver", kefu.ErrorMessage(err))
	}
	if err != nil {
		return err
	}
	defer a.close()
	switch pos[0] {
	case "list":
		subs, err := a.local.Subscriptions(ctx)
		if err != nil || *asJSON {
			if subs == nil {
				subs = []*kefu.Subscription{}
			}
			return firstErr(err, func() error { return printJSON(subs) })
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tKB\tEVENTS\tURL\tDISABLED")
		for _, s := range subs {
			ev := make([]string, len(s.Events))
			for i, e := range s.Events {
				ev[i] = string(e)
			}
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%v\n", s.ID, dash(s.KB), strings.Join(ev, ","), s.URL, s.Disabled)
		}
		return w.Flush()
	case "deliveries":
		f := kefu.DeliveryFilter{State: kefu.DeliveryState(*state), Limit: *limit}
		if *webhook != "" {
			f.Target, f.TargetID = kefu.TargetSubscription, *webhook
		}
		ds, err := a.local.Deliveries(ctx, f)
		if err != nil || *asJSON {
			if ds == nil {
				ds = []kefu.Delivery{}
			}
			return firstErr(err, func() error { return printJSON(ds) })
		}
		w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(w, "ID\tEVENT\tTARGET\tSTATE\tATTEMPTS\tLAST\tCREATED")
		for _, d := range ds {
			last := dash(d.LastError)
			if d.LastStatus != 0 {
				last = fmt.Sprint(d.LastStatus)
			}
			fmt.Fprintf(w, "%s\t%s\t%s:%s\t%s\t%d\t%s\t%s\n", d.ID, d.EventType, d.Target, d.TargetID, d.State, d.Attempts, last, d.CreatedAt.Local().Format("2006-01-02 15:04:05"))
		}
		return w.Flush()
	default:
		for _, id := range pos[1:] {
			d, err := a.local.Redeliver(ctx, id)
			if err != nil {
				return err
			}
			fmt.Printf("%s pending again (event %s); the server sends it when it runs\n", d.ID, d.EventID)
		}
	}
	return nil
}

func firstErr(err error, then func() error) error {
	if err != nil {
		return err
	}
	return then()
}
