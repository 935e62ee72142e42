#!KAMAILIO
debug=2
log_stderror=yes
fork=no
children=1
listen=udp:127.0.0.1:__SIP_PORT__
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "textops.so"
loadmodule "maxfwd.so"
loadmodule "siputils.so"
loadmodule "rtpengine.so"
modparam("rtpengine", "rtpengine_sock", "udp:127.0.0.1:__NG_PORT__")
request_route {
  if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
  if (has_totag()) {
    if (loose_route()) {
      if (is_method("BYE")) rtpengine_delete();
      t_relay();
      exit;
    }
    if (is_method("ACK")) { t_relay(); exit; }
  }
  if (is_method("INVITE")) {
    record_route();
    if (!rtpengine_offer("replace-origin replace-session-connection")) { sl_send_reply("503", "No media"); exit; }
    t_on_reply("MEDIA_REPLY");
  }
  if (is_method("BYE")) rtpengine_delete();
  $du = "sip:127.0.0.1:__UAS_PORT__";
  t_relay();
}
onreply_route[MEDIA_REPLY] {
  if (has_body("application/sdp")) rtpengine_answer("replace-origin replace-session-connection");
}
