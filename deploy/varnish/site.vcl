# Newsdesk behind Varnish 7 with the xkey vmod (Debian: apt-get install varnish varnish-modules).
#
# The app marks every public answer with the keys of what it shows (`xkey` and `Surrogate-Key`
# headers: `a:12 front section:3 …`) and a `Cache-Control` with `s-maxage` and
# `stale-while-revalidate`, which Varnish obeys as TTL and grace. After every change readers can
# see, the app sends `PURGE /` with an `xkey-purge: <keys>` header to each URL in
# NEWSDESK_EDGE_PURGE_URLS; only the pages carrying one of those keys are dropped.
#
# Run: varnishd -a :6081 -f /path/to/site.vcl -s malloc,256m
# Edit the backend (or list several app servers in a director) and the purgers ACL to suit.
vcl 4.1;

import std;
import xkey;

backend default {
    .host = "127.0.0.1";
    .port = "8000";
    .connect_timeout = 2s;
    .first_byte_timeout = 30s;
}

# Who may purge: the app servers.
acl purgers {
    "127.0.0.1";
    "::1";
}

sub vcl_recv {
    if (req.method == "PURGE") {
        if (client.ip !~ purgers) {
            return (synth(403, "Not allowed to purge"));
        }
        if (!req.http.xkey-purge) {
            return (synth(400, "Send the keys to purge in an xkey-purge header"));
        }
        set req.http.X-Purged = xkey.purge(req.http.xkey-purge);
        return (synth(200, "Purged " + req.http.X-Purged + " objects"));
    }
    if (req.method != "GET" && req.method != "HEAD") {
        return (pass);
    }
    # The desk, previews, share links and health checks are never cached here.
    if (req.url ~ "^/(admin|preview|share|accounts|healthz)(/|$|\?)") {
        return (pass);
    }
    # Someone signed in to the desk reads the site as it is now.
    if (req.http.Cookie ~ "(^|;\s*)sessionid=") {
        return (pass);
    }
    unset req.http.Cookie;
    # One object per page whatever the order of its parameters (the app ignores the ones a page
    # does not read).
    set req.url = std.querysort(req.url);
    return (hash);
}

sub vcl_backend_response {
    if (beresp.http.Set-Cookie || beresp.http.Cache-Control ~ "private|no-cache|no-store") {
        set beresp.uncacheable = true;
        set beresp.ttl = 0s;
        return (deliver);
    }
}

sub vcl_deliver {
    # The keys are for this cache; readers do not need them.
    unset resp.http.xkey;
    if (obj.hits > 0) {
        set resp.http.X-Edge = "hit";
    } else {
        set resp.http.X-Edge = "miss";
    }
}
