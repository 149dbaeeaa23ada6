//! The credential pages at a laptop's 1280×800 and a phone's 390×844 (issue 12): every
//! action of every row of the list and of a credential's page is on screen without
//! scrolling sideways, and the confirmation dialog of Disable and Delete names the
//! credential. The audit log and the organization admin's credentials fit too.
//! Screenshots of each page at both sizes land in `target/browser-screenshots/`.

use fantoccini::{Client, Locator};
use reqwest::Method;
use serde_json::{Value, json};

use crate::browser_kit::{
    answer_confirmation, assert_no_confirmation, click_and_wait_for_new_page, confirmation,
    credential_row, current_path, displayed, save_screenshot, sign_in, with_browser,
};
use crate::fixtures::{PASSWORD, Tenant};
use crate::harness::TestApp;

const SIZES: [(u32, u32); 2] = [(1280, 800), (390, 844)];

/// The clickable things of a credential's row and page, and of the organization's table.
const LIST_ACTIONS: &str = "li.credential-row a, li.credential-row button";
const PAGE_ACTIONS: &str = "main button, main a, main select, main input:not([type=hidden])";
const TABLE_ACTIONS: &str = "tr[data-client-id] td > form button, tr[data-client-id] summary";

/// What sticks out of the window at the current size: the document wider than the
/// window, a table that scrolls sideways, an element of `actions` outside the window or
/// cut off by a box that clips it. Empty when everything fits.
const OVERFLOW_SCRIPT: &str = r#"
var actions = arguments[0];
var width = window.innerWidth;
var out = [];
var doc = document.documentElement;
if (doc.scrollWidth > width) out.push('the page is ' + doc.scrollWidth + ' px wide in ' + width);
document.querySelectorAll('.table-scroll').forEach(function (box) {
  if (box.scrollWidth > box.clientWidth + 1) {
    out.push('a table scrolls: ' + box.scrollWidth + ' px in ' + box.clientWidth);
  }
});
document.querySelectorAll(actions).forEach(function (el) {
  var name = (el.getAttribute('aria-label') || el.textContent || el.name || el.id).trim();
  var r = el.getBoundingClientRect();
  if (r.width === 0 || r.height === 0) { out.push(name + ': not shown'); return; }
  if (r.left < 0 || r.right > width + 0.5) {
    out.push(name + ': at ' + Math.round(r.left) + '..' + Math.round(r.right) + ' in ' + width);
    return;
  }
  for (var box = el.parentElement; box; box = box.parentElement) {
    if (getComputedStyle(box).overflowX === 'visible') continue;
    var b = box.getBoundingClientRect();
    if (r.left < b.left - 0.5 || r.right > b.right + 0.5) {
      out.push(name + ': cut off by .' + box.className);
      return;
    }
  }
});
return out;
"#;

#[tokio::test]
async fn every_credential_action_fits_a_laptop_and_a_phone() {
    let app = TestApp::spawn().await;
    let tenant = Tenant::create(&app, "Layout Org").await;
    let person = &tenant.developer;
    // The widest rows a person makes: a long name, limits, an expiry, a use, all scopes,
    // a disabled one.
    let long_name = "Nightly export of every calibrated lidar scene to the archive bucket";
    let long = person
        .create_credentials_with(json!({
            "name": long_name,
            "expires": "2099-01-31T12:00:00Z",
            "allowedNetworks": ["127.0.0.1", "10.0.0.0/8", "192.168.100.0/24"],
            "rateLimitPerMinute": 600,
        }))
        .await;
    assert_eq!(app.token_request(&long, &[]).await.status(), 200);
    let plain = person.create_credentials("ci").await;
    let disabled = person.create_credentials("old laptop").await;
    let response = person
        .call(
            Method::POST,
            &format!("/v1/credentials/{}/disable", disabled.client_id),
            None,
        )
        .await;
    assert_eq!(response.status(), 204);
    let names = [
        (long.client_id.clone(), long_name),
        (plain.client_id.clone(), "ci"),
        (disabled.client_id.clone(), "old laptop"),
    ];
    let organization_id = tenant.organization_id;

    with_browser(|client, _| async move {
        sign_in(&app, &client, "developer@layout-org.test", PASSWORD).await;
        for (width, height) in SIZES {
            client
                .set_window_size(width, height)
                .await
                .expect("resize the window");
            let inner = client
                .execute("return window.innerWidth;", vec![])
                .await
                .expect("read the window's width");
            assert_eq!(inner, Value::from(width), "the window is {width} px wide");

            open(&client, &app.url("/credentials")).await;
            assert_fits(&client, LIST_ACTIONS, "the list").await;
            for (client_id, name) in &names {
                let row = credential_row(&client, client_id).await;
                row.find(Locator::XPath(".//button[normalize-space()='Delete']"))
                    .await
                    .expect("the row has Delete")
                    .click()
                    .await
                    .expect("click Delete");
                let asked = confirmation(&client).await;
                assert!(asked.contains(name), "Delete names “{name}”: {asked}");
                if client_id == &plain.client_id {
                    assert_fits(&client, "#confirm-dialog button", "the dialog").await;
                    save_screenshot(&client, &format!("credentials-delete-{width}.png")).await;
                }
                answer_confirmation(&client, "Cancel").await;
                assert_no_confirmation(&client, "Cancel closes the dialog").await;
            }
            screenshot(&client, &format!("credentials-{width}.png")).await;
            client
                .find(Locator::Id("avatar-button"))
                .await
                .expect("the avatar button")
                .click()
                .await
                .expect("open the account menu");
            assert_fits(&client, "#account-menu [role=menuitem]", "the account menu").await;
            // Past the menu's 0.12 s fade-in, so the picture shows it as people see it.
            tokio::time::sleep(std::time::Duration::from_millis(300)).await;
            save_screenshot(&client, &format!("account-menu-{width}.png")).await;

            for (client_id, name) in &names {
                let path = format!("/credentials/{client_id}");
                open(&client, &app.url(&path)).await;
                assert_fits(&client, PAGE_ACTIONS, name).await;
                let heading = displayed(&client, Locator::Css("h1"), "the heading")
                    .await
                    .text()
                    .await
                    .expect("heading text");
                assert!(heading.contains(name), "the page names it: {heading}");
                for action in ["Disable", "Delete"] {
                    let buttons = client
                        .find_all(Locator::XPath(&format!(
                            "//main//button[normalize-space()='{action}']"
                        )))
                        .await
                        .expect("look for the button");
                    let Some(button) = buttons.first() else {
                        assert_eq!(client_id, &disabled.client_id, "{action} is offered");
                        continue;
                    };
                    button.click().await.expect("click");
                    let asked = confirmation(&client).await;
                    assert!(asked.contains(name), "{action} names “{name}”: {asked}");
                    answer_confirmation(&client, "Cancel").await;
                    assert_no_confirmation(&client, "Cancel closes the dialog").await;
                    assert_eq!(current_path(&client).await, path, "Cancel stays");
                }
                if client_id != &plain.client_id {
                    screenshot(&client, &format!("credential-{}-{width}.png", slug(name))).await;
                }
            }

            open(&client, &app.url("/audit")).await;
            assert_fits(&client, "main code", "the audit log").await;
            screenshot(&client, &format!("audit-{width}.png")).await;
        }

        // The organization admin's table of every member's credentials.
        client.delete_all_cookies().await.expect("sign out");
        sign_in(&app, &client, "admin@layout-org.test", PASSWORD).await;
        for (width, height) in SIZES {
            client
                .set_window_size(width, height)
                .await
                .expect("resize the window");
            open(
                &client,
                &app.url(&format!("/organizations/{organization_id}/credentials")),
            )
            .await;
            assert_fits(&client, TABLE_ACTIONS, "the organization's credentials").await;
            screenshot(&client, &format!("organization-credentials-{width}.png")).await;
        }

        // Confirming in the dialog deletes, from the credential's page.
        client.delete_all_cookies().await.expect("sign out");
        sign_in(&app, &client, "developer@layout-org.test", PASSWORD).await;
        open(
            &client,
            &app.url(&format!("/credentials/{}", plain.client_id)),
        )
        .await;
        displayed(
            &client,
            Locator::XPath("//main//button[normalize-space()='Delete']"),
            "Delete",
        )
        .await
        .click()
        .await
        .expect("click Delete");
        confirmation(&client).await;
        let confirm = displayed(
            &client,
            Locator::XPath("//dialog[@open]//button[normalize-space()='Delete credential']"),
            "Delete credential",
        )
        .await;
        click_and_wait_for_new_page(&client, &confirm).await;
        assert_eq!(current_path(&client).await, "/credentials");
        let text = displayed(&client, Locator::Css("main"), "the list")
            .await
            .text()
            .await
            .expect("list text");
        assert!(text.contains("was deleted"), "{text}");
        let left: Vec<String> = app
            .sign_in("developer@layout-org.test", PASSWORD)
            .await
            .list_credentials()
            .await
            .into_iter()
            .map(|c| c.client_id)
            .collect();
        assert!(!left.contains(&plain.client_id), "deleted: {left:?}");
        assert_eq!(
            left.len(),
            2,
            "only the confirmed deletion happened: {left:?}"
        );
    })
    .await;
}

async fn open(client: &Client, url: &str) {
    client.goto(url).await.expect("open the page");
    displayed(client, Locator::Css("main"), "the page").await;
}

async fn assert_fits(client: &Client, actions: &str, what: &str) {
    let found = client
        .execute(OVERFLOW_SCRIPT, vec![Value::from(actions)])
        .await
        .expect("measure the page");
    let width = client
        .execute("return window.innerWidth;", vec![])
        .await
        .expect("read the width");
    assert_eq!(
        found,
        Value::Array(Vec::new()),
        "{what} does not fit {width} px"
    );
}

/// The whole page, however long: the window is made as tall as the page for the shot.
async fn screenshot(client: &Client, name: &str) {
    let (width, height) = {
        let size = client
            .execute(
                "return [window.innerWidth, document.documentElement.scrollHeight];",
                vec![],
            )
            .await
            .expect("measure the page");
        let pixels = |v: &Value| {
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .expect("pixels")
        };
        (pixels(&size[0]), pixels(&size[1]))
    };
    let (_, _, _, old_height) = client.get_window_rect().await.expect("window size");
    let old_height = u32::try_from(old_height).expect("a window height");
    client
        .set_window_size(width, height.max(old_height))
        .await
        .expect("make the window as tall as the page");
    save_screenshot(client, name).await;
    client
        .set_window_size(width, old_height)
        .await
        .expect("restore the window");
}

fn slug(name: &str) -> String {
    name.split_whitespace()
        .take(2)
        .collect::<Vec<_>>()
        .join("-")
        .to_lowercase()
}
