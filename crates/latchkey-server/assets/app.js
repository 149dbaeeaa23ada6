/* Latchkey — progressive enhancement. No dependencies; CSP-safe (no inline code). */
(function () {
  'use strict';

  var UNSAVED_SECRET = {
    title: 'Close without saving the secret?',
    message: 'You have not copied or downloaded the client secret. ' +
      'It cannot be shown again once you close this.',
    confirmLabel: 'Close anyway',
    cancelLabel: 'Keep it open'
  };

  function byId(id) {
    return document.getElementById(id);
  }

  function openDialog(dialog) {
    if (!dialog || dialog.open) return;
    if (typeof dialog.showModal === 'function') {
      dialog.showModal();
    } else {
      dialog.setAttribute('open', '');
    }
  }

  function closeDialog(dialog) {
    if (!dialog) return;
    if (typeof dialog.close === 'function') {
      if (dialog.open) dialog.close();
    } else {
      dialog.removeAttribute('open');
    }
  }

  /* ---------------- Account (avatar) menu ---------------- */
  function initAccountMenu() {
    var button = byId('avatar-button');
    var menu = byId('account-menu');
    if (!button || !menu) return;

    function items() {
      return Array.prototype.slice.call(menu.querySelectorAll('[role="menuitem"]'));
    }

    function isOpen() {
      return button.getAttribute('aria-expanded') === 'true';
    }

    function focusItem(index) {
      var list = items();
      if (!list.length) return;
      var i = ((index % list.length) + list.length) % list.length;
      list[i].focus();
    }

    function open(focusLast) {
      menu.hidden = false;
      button.setAttribute('aria-expanded', 'true');
      focusItem(focusLast ? -1 : 0);
    }

    function close(returnFocus) {
      if (!isOpen() && menu.hidden) return;
      menu.hidden = true;
      button.setAttribute('aria-expanded', 'false');
      if (returnFocus) button.focus();
    }

    button.addEventListener('click', function () {
      if (isOpen()) {
        close(false);
      } else {
        open(false);
      }
    });

    button.addEventListener('keydown', function (event) {
      if (event.key === 'ArrowDown') {
        event.preventDefault();
        open(false);
      } else if (event.key === 'ArrowUp') {
        event.preventDefault();
        open(true);
      } else if (event.key === 'Escape' && isOpen()) {
        event.preventDefault();
        close(true);
      }
    });

    menu.addEventListener('keydown', function (event) {
      var list = items();
      var current = list.indexOf(document.activeElement);
      switch (event.key) {
        case 'ArrowDown':
          event.preventDefault();
          focusItem(current < 0 ? 0 : current + 1);
          break;
        case 'ArrowUp':
          event.preventDefault();
          focusItem(current < 0 ? -1 : current - 1);
          break;
        case 'Home':
          event.preventDefault();
          focusItem(0);
          break;
        case 'End':
          event.preventDefault();
          focusItem(-1);
          break;
        case 'Escape':
          event.preventDefault();
          event.stopPropagation();
          close(true);
          break;
        case 'Tab':
          close(false);
          break;
        default:
          break;
      }
    });

    document.addEventListener('click', function (event) {
      if (!isOpen()) return;
      if (menu.contains(event.target) || button.contains(event.target)) return;
      close(false);
    });

    document.addEventListener('focusin', function (event) {
      if (!isOpen()) return;
      if (menu.contains(event.target) || button.contains(event.target)) return;
      close(false);
    });

    document.addEventListener('keydown', function (event) {
      if (event.key === 'Escape' && isOpen()) {
        close(true);
      }
    });
  }

  /* ---------------- Confirmation dialog ---------------- */
  // A styled <dialog> (base.html) instead of the browser's confirm(): it names what is
  // about to happen in the page's own words, and it looks like the rest of the app.
  // `done(true)` runs after Confirm, `done(false)` after Cancel, Escape or the backdrop.
  function askConfirm(options, done) {
    var dialog = byId('confirm-dialog');
    if (!dialog) {
      done(false);
      return;
    }
    byId('confirm-title').textContent = options.title || 'Are you sure?';
    byId('confirm-message').textContent = options.message || '';
    var ok = byId('confirm-ok');
    ok.textContent = options.confirmLabel || 'Confirm';
    ok.className = 'button ' + (options.danger === false ? 'button-primary' : 'button-danger');
    byId('confirm-cancel').textContent = options.cancelLabel || 'Cancel';
    dialog.returnValue = '';
    dialog.addEventListener('close', function handler() {
      dialog.removeEventListener('close', handler);
      done(dialog.returnValue === 'confirm');
    });
    openDialog(dialog);
    byId('confirm-cancel').focus();
  }

  function initConfirmForms() {
    document.addEventListener('submit', function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute('data-confirm')) return;
      event.preventDefault();
      askConfirm({
        title: form.dataset.confirmTitle,
        message: form.dataset.confirm,
        confirmLabel: form.dataset.confirmLabel || 'Delete'
      }, function (confirmed) {
        // submit() skips the submit event, so this does not ask again.
        if (confirmed) form.submit();
      });
    });
    var dialog = byId('confirm-dialog');
    if (!dialog) return;
    // Clicking the backdrop (outside the dialog box) cancels.
    dialog.addEventListener('click', function (event) {
      if (event.target !== dialog) return;
      var rect = dialog.getBoundingClientRect();
      var inside = event.clientX >= rect.left && event.clientX <= rect.right &&
        event.clientY >= rect.top && event.clientY <= rect.bottom;
      if (!inside) closeDialog(dialog);
    });
  }

  /* ---------------- Generate dialog ---------------- */
  function initGenerateDialog() {
    var dialog = byId('generate-dialog');
    var trigger = byId('generate-button');
    if (!dialog) return;

    var nameInput = byId('credential-name');
    var expiry = byId('credential-expiry');
    var dateInput = byId('credential-expires-on');
    var dateField = byId('credential-expires-on-field');

    function syncExpiry() {
      if (!expiry || !dateInput) return;
      var custom = expiry.value === 'custom';
      dateInput.hidden = !custom;
      if (dateField) dateField.hidden = !custom;
      dateInput.required = custom;
      if (custom && !dateInput.min) {
        var tomorrow = new Date(Date.now() + 24 * 60 * 60 * 1000);
        dateInput.min = tomorrow.toISOString().slice(0, 10);
      }
    }

    if (expiry) {
      expiry.addEventListener('change', function () {
        syncExpiry();
        if (expiry.value === 'custom' && dateInput) dateInput.focus();
      });
      syncExpiry();
    }

    if (trigger) {
      trigger.addEventListener('click', function () {
        openDialog(dialog);
        if (nameInput) {
          nameInput.focus();
          if (nameInput.value) nameInput.select();
        }
      });
    }

    var closers = dialog.querySelectorAll('[data-close-dialog]');
    Array.prototype.forEach.call(closers, function (el) {
      el.addEventListener('click', function () {
        closeDialog(dialog);
      });
    });

    dialog.addEventListener('close', function () {
      if (trigger && document.activeElement !== trigger) trigger.focus();
    });

    // Clicking the backdrop (outside the dialog box) closes it.
    dialog.addEventListener('click', function (event) {
      if (event.target !== dialog) return;
      var rect = dialog.getBoundingClientRect();
      var inside = event.clientX >= rect.left && event.clientX <= rect.right &&
        event.clientY >= rect.top && event.clientY <= rect.bottom;
      if (!inside) closeDialog(dialog);
    });
  }

  /* ---------------- One-time credentials dialog ---------------- */
  function copyWithFallback(text) {
    if (navigator.clipboard && typeof navigator.clipboard.writeText === 'function' && window.isSecureContext) {
      return navigator.clipboard.writeText(text).catch(function () {
        return legacyCopy(text);
      });
    }
    return legacyCopy(text);
  }

  function legacyCopy(text) {
    return new Promise(function (resolve, reject) {
      // The temporary textarea must be visible and inside the open modal
      // dialog, otherwise it is inert and cannot be selected.
      var host = byId('created-dialog') || document.body;
      var area = document.createElement('textarea');
      area.value = text;
      area.setAttribute('readonly', '');
      area.setAttribute('aria-hidden', 'true');
      area.className = 'copy-buffer';
      area.style.position = 'fixed'; /* CSSOM property, not a style attribute: allowed by CSP */
      area.style.top = '0';
      area.style.left = '0';
      area.style.width = '1px';
      area.style.height = '1px';
      area.style.opacity = '0.01';
      host.appendChild(area);
      var active = document.activeElement;
      area.focus();
      area.select();
      var ok = false;
      try {
        ok = document.execCommand('copy');
      } catch (e) {
        ok = false;
      }
      host.removeChild(area);
      if (active && typeof active.focus === 'function') active.focus();
      if (ok) {
        resolve();
      } else {
        reject(new Error('copy failed'));
      }
    });
  }

  function initCreatedDialog() {
    var dialog = byId('created-dialog');
    if (!dialog) return;

    var source = byId('created-credentials-json');
    var copyButton = byId('copy-button');
    var downloadLink = byId('download-link');
    var closeButton = byId('close-button');
    var status = byId('copy-status');
    var copied = false;
    var downloaded = false;
    var closing = false;

    function setStatus(text) {
      if (status) status.textContent = text;
    }

    if (copyButton) {
      copyButton.addEventListener('click', function () {
        var text = source ? source.value : '';
        copyWithFallback(text).then(function () {
          copied = true;
          copyButton.classList.add('is-done');
          setStatus('Copied to the clipboard');
        }, function () {
          setStatus('Copying failed. Select the client ID and secret above and copy them manually, or use Download.');
        });
      });
    }

    if (downloadLink) {
      downloadLink.addEventListener('click', function () {
        downloaded = true;
        downloadLink.classList.add('is-done');
        setStatus('Download started');
      });
    }

    var asking = false;

    function finish() {
      closing = true;
      closeDialog(dialog);
      window.location.replace('/credentials');
    }

    function requestClose() {
      if (closing || asking) return;
      if (copied || downloaded) {
        finish();
        return;
      }
      asking = true;
      askConfirm(UNSAVED_SECRET, function (confirmed) {
        asking = false;
        if (confirmed) {
          finish();
        } else if (closeButton) {
          closeButton.focus();
        }
      });
    }

    if (closeButton) {
      closeButton.addEventListener('click', requestClose);
    }

    // Escape is handled on keydown (preventing its default stops the browser's
    // own close request); the `cancel` event is the standard path and also
    // covers other close requests. A flag avoids asking twice for one key press.
    var escapeHandled = false;
    dialog.addEventListener('keydown', function (event) {
      if (event.key !== 'Escape') return;
      event.preventDefault();
      escapeHandled = true;
      window.setTimeout(function () { escapeHandled = false; }, 0);
      requestClose();
    });

    dialog.addEventListener('cancel', function (event) {
      event.preventDefault();
      if (escapeHandled) return;
      requestClose();
    });

    // Safety net: if the browser closed the dialog without our consent
    // (e.g. a close request that skipped `cancel`), re-check and reopen.
    dialog.addEventListener('close', function () {
      if (closing) return;
      openDialog(dialog);
      requestClose();
    });

    if (dialog.hasAttribute('data-open-on-load')) {
      openDialog(dialog);
      if (copyButton) copyButton.focus();
    }
  }

  /* ---------------- Copy buttons (e.g. a set-password link) ---------------- */
  function initCopyButtons() {
    var buttons = document.querySelectorAll('[data-copy-target]');
    Array.prototype.forEach.call(buttons, function (button) {
      button.addEventListener('click', function () {
        var source = byId(button.getAttribute('data-copy-target'));
        var status = byId(button.getAttribute('data-copy-status'));
        var text = source ? source.textContent.trim() : '';
        copyWithFallback(text).then(function () {
          button.classList.add('is-done');
          if (status) status.textContent = 'Copied to the clipboard';
        }, function () {
          if (status) status.textContent = 'Copying failed. Select the text above and copy it manually.';
        });
      });
    });
  }

  function init() {
    initAccountMenu();
    initCopyButtons();
    initConfirmForms();
    initGenerateDialog();
    initCreatedDialog();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();
