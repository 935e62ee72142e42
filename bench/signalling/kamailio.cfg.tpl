#!KAMAILIO
# Benchmark anchor (issue 4): a dialog-stateful proxy with topology hiding, the closest Kamailio
# equivalent of what a B2BUA SBC does per call. Placeholders are filled by signalling-calls.bench.ts.
debug=0
log_stderror=yes
memdbg=5
memlog=5
children=@CHILDREN@
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:@PORT@

loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "dialog.so"
loadmodule "topoh.so"

modparam("topoh", "mask_key", "kube-sbc-bench")
modparam("topoh", "mask_ip", "127.0.0.1")
modparam("dialog", "default_timeout", 3600)

request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) { t_relay(); exit; }
    if (is_method("ACK")) { if (t_check_trans()) { t_relay(); } exit; }
    if (is_known_dlg()) { t_relay(); exit; }
    sl_send_reply("404", "Not here");
    exit;
  }
  if (is_method("CANCEL")) { if (t_check_trans()) { t_relay(); } exit; }
  t_check_trans();
  if (is_method("INVITE")) { dlg_manage(); record_route(); }
  $du = "sip:127.0.0.1:@UAS_PORT@";
  t_relay();
}
