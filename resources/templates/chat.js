(function () {
  "use strict";
  var printer = document.getElementById("print");
  if (printer) { printer.addEventListener("click", function () { window.print(); }); }
  var list = document.getElementById("messages");
  if (!list || !window.fetch) { return; }
  var api = list.getAttribute("data-api");
  var last = parseInt(list.getAttribute("data-last") || "0", 10);
  var closed = false;
  function add(msg) {
    var li = document.createElement("li");
    li.className = "msg " + msg.from;
    var meta = document.createElement("div");
    meta.className = "meta";
    meta.textContent = (msg.from === "caller" ? "我" : (msg.name || "工作人员")) + " · " + msg.at.substring(11, 16);
    li.appendChild(meta);
    if (msg.text) {
      var text = document.createElement("div");
      text.className = "text";
      text.textContent = msg.text;
      li.appendChild(text);
    }
    if (msg.notice) {
      var n = document.createElement("a");
      n.className = "button light notice-link";
      n.href = list.getAttribute("data-page") + "/notice/" + encodeURIComponent(msg.id);
      n.textContent = "打印或保存这份告知";
      li.appendChild(n);
    }
    (msg.links || []).forEach(function (href) {
      var a = document.createElement("a");
      a.className = "button share-link";
      a.href = href;
      a.rel = "noreferrer";
      a.textContent = "打开屏幕共享页面";
      li.appendChild(a);
    });
    (msg.photos || []).forEach(function (id) {
      var img = document.createElement("img");
      img.className = "photo";
      img.alt = "照片";
      img.src = list.getAttribute("data-page") + "/photo/" + encodeURIComponent(id);
      li.appendChild(img);
    });
    list.appendChild(li);
    li.scrollIntoView({ block: "end" });
  }
  function poll() {
    fetch(api + "?after=" + last + "&wait=25", { credentials: "same-origin" })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        data.messages.forEach(add);
        last = data.last;
        var known = list.getAttribute("data-state");
        if (data.closed || (data.helper && !document.querySelector("#helper strong")) || data.state !== known && known) {
          window.location.reload();
          return;
        }
        list.setAttribute("data-state", data.state);
        setTimeout(poll, 100);
      })
      .catch(function () { setTimeout(poll, 5000); });
  }
  var picker = document.getElementById("photo");
  var picked = document.getElementById("picked");
  if (picker && picked) {
    picker.addEventListener("change", function () {
      picked.textContent = picker.files.length ? "已选择：" + picker.files[0].name : "未选择照片";
    });
  }
  list.setAttribute("data-state", list.getAttribute("data-initial-state") || "");
  if (list.lastElementChild) { list.lastElementChild.scrollIntoView({ block: "end" }); }
  poll();
})();
