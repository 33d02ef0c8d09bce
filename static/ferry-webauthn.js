/* Ferry's WebAuthn ceremonies, for forms marked data-webauthn="create" or "get".
   A static file (the CSP allows no inline script). The form carries the options as JSON in
   data-webauthn-options; the answer goes back as JSON in the hidden "credential" field of the
   same form, posted like any other. Without WebAuthn the start button stays disabled and the
   form's other buttons ("Not now") work as before. Only the browser's own API is used.
   data-webauthn-submit: the start button is the form's submit button (PIN pages): the fields
   are checked, the device answers, then the form goes with both.
   data-webauthn-conditional: also offer passkeys in the autofill of the identifier field.
   data-ferry-confirms on a field: it must equal the field of that id (PIN confirmation). */
(function () {
  "use strict";

  function toBytes(base64url) {
    var base64 = base64url.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64);
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toBase64url(buffer) {
    var bytes = new Uint8Array(buffer);
    var binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (item) {
      return { type: item.type, id: toBytes(item.id), transports: item.transports };
    });
  }

  function creationOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.user.id = toBytes(options.user.id);
    options.excludeCredentials = descriptors(options.excludeCredentials);
    return { publicKey: options };
  }

  function requestOptions(options) {
    options.challenge = toBytes(options.challenge);
    options.allowCredentials = descriptors(options.allowCredentials);
    return { publicKey: options };
  }

  function answer(credential) {
    var response = credential.response;
    var json = {
      id: credential.id,
      rawId: toBase64url(credential.rawId),
      type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || undefined,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toBase64url(response.clientDataJSON) }
    };
    if (response.attestationObject) {
      json.response.attestationObject = toBase64url(response.attestationObject);
      json.response.transports = response.getTransports ? response.getTransports() : [];
    } else {
      json.response.authenticatorData = toBase64url(response.authenticatorData);
      json.response.signature = toBase64url(response.signature);
      if (response.userHandle) { json.response.userHandle = toBase64url(response.userHandle); }
    }
    return JSON.stringify(json);
  }

  function options(form) {
    return JSON.parse(form.getAttribute("data-webauthn-options"));
  }

  function send(form, credential) {
    form.querySelector("input[name=credential]").value = answer(credential);
    form.submit();
  }

  // A pending autofill request (conditional mediation) must end before a modal one starts.
  var pendingAutofill = null;

  // A confirmation field (data-ferry-confirms="<id of the first>") that differs is an error of
  // the form, shown by the browser like any other; the server checks the same again.
  function checkConfirmations(form) {
    var fields = form.querySelectorAll("input[data-ferry-confirms]");
    Array.prototype.forEach.call(fields, function (confirm) {
      var first = document.getElementById(confirm.getAttribute("data-ferry-confirms"));
      var differs = first && confirm.value && first.value !== confirm.value;
      confirm.setCustomValidity(differs ? confirm.getAttribute("data-ferry-mismatch") || "" : "");
      if (!confirm.hasAttribute("data-ferry-watched")) {
        confirm.setAttribute("data-ferry-watched", "");
        confirm.addEventListener("input", function () { confirm.setCustomValidity(""); });
      }
    });
  }

  function start(form, button, status) {
    if (form.hasAttribute("data-webauthn-submit")) { checkConfirmations(form); }
    if (form.hasAttribute("data-webauthn-submit") && form.reportValidity && !form.reportValidity()) {
      return;  // the PIN fields first: no device prompt for a form that cannot be accepted
    }
    if (pendingAutofill) { pendingAutofill.abort(); pendingAutofill = null; }
    var ceremony = form.getAttribute("data-webauthn");
    button.disabled = true;
    status.textContent = "";
    var pending = ceremony === "create"
      ? navigator.credentials.create(creationOptions(options(form)))
      : navigator.credentials.get(requestOptions(options(form)));
    pending.then(function (credential) { send(form, credential); }, function () {
      // Cancelled, timed out, or no key here: nothing was sent; the user may try again.
      button.disabled = false;
      status.textContent = form.getAttribute("data-webauthn-cancelled") ||
        "Nothing was changed. You can try again.";
    });
  }

  // Passkeys offered in the identifier field's autofill, where the browser supports it.
  function autofill(form) {
    var check = window.PublicKeyCredential.isConditionalMediationAvailable;
    if (!check) { return; }
    check.call(window.PublicKeyCredential).then(function (available) {
      if (!available) { return; }
      pendingAutofill = new AbortController();
      var request = requestOptions(options(form));
      request.mediation = "conditional";
      request.signal = pendingAutofill.signal;
      navigator.credentials.get(request).then(function (credential) {
        if (credential) { send(form, credential); }
      }, function () { /* aborted, or dismissed: the form works as before */ });
    });
  }

  function init() {
    if (!window.PublicKeyCredential || !navigator.credentials) { return; }
    var forms = document.querySelectorAll("form[data-webauthn]");
    Array.prototype.forEach.call(forms, function (form) {
      var button = form.querySelector("[data-webauthn-start]");
      var status = form.querySelector("[data-webauthn-status]");
      if (form.hasAttribute("data-webauthn-conditional")) { autofill(form); }
      if (!button) { return; }
      button.disabled = false;
      if (form.hasAttribute("data-webauthn-submit")) {
        // The start button submits the form (Enter in a field too): the device answers first.
        form.addEventListener("submit", function (event) {
          var submitter = event.submitter;
          if (submitter && submitter !== button) { return; }  // "Not now", "another way"
          event.preventDefault();
          start(form, button, status);
        });
      } else {
        button.addEventListener("click", function () { start(form, button, status); });
      }
    });
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
