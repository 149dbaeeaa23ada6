//! The decision's tables: every action for each kind of caller and resource, and the
//! narrowing rule tried exhaustively.

use super::*;

const ORG: i64 = 1;
const OTHER_ORG: i64 = 2;
const WS: &str = "ws-a";
const OTHER_WS: &str = "ws-b";

fn person(org_role: Option<OrganizationRole>, ws_role: Option<WorkspaceRole>) -> Principal {
    Principal {
        user_id: 7,
        email: "p@example.com".into(),
        is_operator: false,
        organization: org_role.map(|r| (ORG, r)),
        workspace_roles: ws_role.map(|r| (WS.to_owned(), r)).into_iter().collect(),
        credential: None,
    }
}

fn with_credential(mut p: Principal, scopes: &str, workspaces: Option<&[&str]>) -> Principal {
    p.credential = Some(CredentialLimits {
        client_id: "lkc_x".into(),
        name: "ci".into(),
        scopes: Scopes::parse(scopes).expect("scopes"),
        workspaces: workspaces.map(|w| w.iter().map(|s| (*s).to_owned()).collect()),
    });
    p
}

fn operator() -> Principal {
    Principal {
        is_operator: true,
        organization: None,
        ..person(None, None)
    }
}

/// A principal's expected outcome for each action, on the workspace WS of ORG.
fn expect_on_workspace(principal: &Principal, expected: [&str; 6]) {
    // The first six actions are the tenancy and content ones.
    for (action, want) in Action::ALL.into_iter().zip(expected) {
        let got = decide(
            principal,
            action,
            Resource::Workspace {
                id: WS,
                organization_id: ORG,
            },
        )
        .map_or_else(|d| d.code(), |()| "ok");
        assert_eq!(got, want, "{action:?} for {principal:?}");
    }
}

#[test]
fn the_workspace_table() {
    use OrganizationRole::{Admin as OrgAdmin, Member};
    use WorkspaceRole::{Admin, Developer, Viewer};
    // Columns: ReadWorkspace, WriteWorkspace, ManageWorkspaceMembers,
    //          ReadOrganization, ManageOrganization, ManagePlatform (on a workspace).
    let rows: Vec<(Principal, [&str; 6])> = vec![
        (
            person(Some(Member), None),
            [
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            person(Some(Member), Some(Viewer)),
            [
                "ok",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            person(Some(Member), Some(Developer)),
            [
                "ok",
                "ok",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            person(Some(Member), Some(Admin)),
            [
                "ok",
                "ok",
                "ok",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            person(Some(OrgAdmin), None),
            ["ok", "ok", "ok", "ok", "ok", "missing_role"],
        ),
        (operator(), ["ok", "ok", "ok", "ok", "ok", "ok"]),
        (person(None, Some(Admin)), ["not_found"; 6]),
        (
            with_credential(person(Some(Member), Some(Admin)), "api:read", None),
            [
                "ok",
                "missing_scope",
                "missing_scope",
                "missing_role",
                "missing_scope",
                "missing_scope",
            ],
        ),
        (
            with_credential(
                person(Some(Member), Some(Viewer)),
                "api:read api:write",
                None,
            ),
            [
                "ok",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            with_credential(
                person(Some(Member), Some(Developer)),
                "api:read api:write",
                Some(&[OTHER_WS]),
            ),
            ["workspace_not_allowed"; 6],
        ),
        (
            with_credential(
                person(Some(Member), Some(Developer)),
                "api:read api:write",
                Some(&[WS]),
            ),
            [
                "ok",
                "ok",
                "missing_role",
                "missing_role",
                "missing_role",
                "missing_role",
            ],
        ),
        (
            with_credential(
                person(Some(Member), Some(Developer)),
                "credentials:manage",
                None,
            ),
            ["missing_scope"; 6],
        ),
    ];
    for (principal, expected) in &rows {
        expect_on_workspace(principal, *expected);
    }
}

#[test]
fn another_organizations_resources_are_not_found_for_every_action() {
    let admin = person(Some(OrganizationRole::Admin), Some(WorkspaceRole::Admin));
    for action in Action::ALL {
        for resource in [
            Resource::Organization { id: OTHER_ORG },
            Resource::Workspace {
                id: WS,
                organization_id: OTHER_ORG,
            },
        ] {
            assert_eq!(decide(&admin, action, resource), Err(Denial::NotFound));
        }
    }
}

#[test]
fn the_organization_and_platform_table() {
    use OrganizationRole::{Admin, Member};
    let org = Resource::Organization { id: ORG };
    let cases: Vec<(Principal, Action, Resource<'_>, &str)> = vec![
        (
            person(Some(Member), None),
            Action::ReadOrganization,
            org,
            "ok",
        ),
        (
            person(Some(Member), None),
            Action::ManageOrganization,
            org,
            "missing_role",
        ),
        (
            person(Some(Admin), None),
            Action::ManageOrganization,
            org,
            "ok",
        ),
        (
            person(Some(Admin), None),
            Action::ManagePlatform,
            Resource::Platform,
            "missing_role",
        ),
        (operator(), Action::ManagePlatform, Resource::Platform, "ok"),
        (operator(), Action::ManageOrganization, org, "ok"),
        (
            with_credential(operator(), "api:read", None),
            Action::ManagePlatform,
            Resource::Platform,
            "missing_scope",
        ),
        (
            with_credential(person(Some(Admin), None), "api:read api:write", Some(&[WS])),
            Action::ManageOrganization,
            org,
            "workspace_not_allowed",
        ),
        (
            with_credential(person(Some(Member), None), "api:read", Some(&[WS])),
            Action::ReadOrganization,
            org,
            "ok",
        ),
        (
            with_credential(operator(), "api:read api:write", Some(&[WS])),
            Action::ManagePlatform,
            Resource::Platform,
            "workspace_not_allowed",
        ),
    ];
    for (principal, action, resource, want) in cases {
        let got = decide(&principal, action, resource).map_or_else(|d| d.code(), |()| "ok");
        assert_eq!(got, want, "{action:?} on {resource:?} for {principal:?}");
    }
}

fn facts<'a>(
    owner_user_id: i64,
    scopes: &'a Scopes,
    workspaces: Option<&'a BTreeSet<String>>,
) -> CredentialFacts<'a> {
    CredentialFacts {
        owner_user_id,
        organization_id: Some(ORG),
        scopes,
        workspaces,
        disabled_by_admin: false,
    }
}

const PERSONAL: [Action; 7] = [
    Action::ReadAccount,
    Action::ManageAccount,
    Action::ReadOwnAuditLog,
    Action::CreateCredential,
    Action::ManageCredential,
    Action::EnableCredential,
    Action::IssueSecret,
];

/// Every non-empty set of scopes.
fn every_scope_set() -> Vec<Scopes> {
    (1..8u8)
        .map(|bits| {
            let names: Vec<&str> = Scope::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| bits & (1 << i) != 0)
                .map(|(_, s)| s.as_str())
                .collect();
            Scopes::from_names(names).expect("scopes")
        })
        .collect()
}

fn every_workspace_limit() -> Vec<Option<BTreeSet<String>>> {
    vec![
        None,
        Some([WS.to_owned()].into()),
        Some([OTHER_WS.to_owned()].into()),
        Some([WS.to_owned(), OTHER_WS.to_owned()].into()),
    ]
}

/// The narrowing rule, exhaustively: for every token (scopes × workspace limit),
/// every credential it might act on (scopes × workspace limit) and every credential
/// action, the action is allowed only if the token covers the credential.
#[test]
fn a_token_never_acts_on_a_credential_wider_than_itself() {
    let admin = person(Some(OrganizationRole::Admin), Some(WorkspaceRole::Admin));
    for token_scopes in every_scope_set() {
        for token_limit in every_workspace_limit() {
            let mut principal = admin.clone();
            principal.credential = Some(CredentialLimits {
                client_id: "lkc_t".into(),
                name: "t".into(),
                scopes: token_scopes.clone(),
                workspaces: token_limit.clone(),
            });
            for target_scopes in every_scope_set() {
                for target_limit in every_workspace_limit() {
                    for owner in [principal.user_id, 99] {
                        for action in PERSONAL {
                            let resource = Resource::Credential(facts(
                                owner,
                                &target_scopes,
                                target_limit.as_ref(),
                            ));
                            let allowed = decide(&principal, action, resource).is_ok();
                            let scopes_covered =
                                target_scopes.iter().all(|s| token_scopes.contains(s));
                            let workspaces_covered = match (&token_limit, &target_limit) {
                                (None, _) => true,
                                (Some(_), None) => false,
                                (Some(token), Some(target)) => target.is_subset(token),
                            };
                            if allowed {
                                assert!(
                                    scopes_covered
                                        && workspaces_covered
                                        && token_scopes.contains(Scope::CredentialsManage),
                                    "{action:?} by {token_scopes} {token_limit:?} on \
                                     {target_scopes} {target_limit:?} (owner {owner})"
                                );
                            }
                        }
                    }
                }
            }
        }
    }
}

#[test]
fn the_credential_table() {
    use OrganizationRole::{Admin, Member};
    let wide = Scopes::parse("api:read api:write credentials:manage").expect("scopes");
    let read = Scopes::parse("api:read").expect("scopes");
    let manage = Scopes::parse("credentials:manage").expect("scopes");
    let ws: BTreeSet<String> = [WS.to_owned()].into();
    let me = 7;
    let member = 8;
    let admin = person(Some(Admin), None);
    let owner = person(Some(Member), Some(WorkspaceRole::Developer));
    let disabled_by_admin = CredentialFacts {
        disabled_by_admin: true,
        ..facts(me, &read, None)
    };
    let other_org = CredentialFacts {
        organization_id: Some(OTHER_ORG),
        ..facts(member, &read, None)
    };
    #[rustfmt::skip]
    let cases: Vec<(Principal, Action, CredentialFacts<'_>, &str)> = vec![
        // A person signed in manages their own credentials, whatever they reach.
        (owner.clone(), Action::CreateCredential, facts(me, &wide, None), "ok"),
        (owner.clone(), Action::ManageCredential, facts(me, &wide, None), "ok"),
        (owner.clone(), Action::IssueSecret, facts(me, &wide, None), "ok"),
        (owner.clone(), Action::EnableCredential, facts(me, &wide, None), "ok"),
        // Nobody sees another member's credential but an admin of their organization.
        (owner.clone(), Action::ManageCredential, facts(member, &read, None), "not_found"),
        (admin.clone(), Action::ManageCredential, facts(member, &wide, None), "ok"),
        (admin.clone(), Action::EnableCredential, facts(member, &wide, None), "ok"),
        (admin.clone(), Action::ManageCredential, other_org, "not_found"),
        (operator(), Action::ManageCredential, facts(member, &read, None), "not_found"),
        // Nobody creates a credential for someone else; only the owner sees a new secret.
        (admin.clone(), Action::CreateCredential, facts(member, &read, None), "not_found"),
        (admin.clone(), Action::IssueSecret, facts(member, &read, None), "not_credential_owner"),
        // An admin's disabling sticks: the owner can delete, not enable or renew.
        (owner.clone(), Action::EnableCredential, disabled_by_admin, "disabled_by_admin"),
        (owner.clone(), Action::IssueSecret, disabled_by_admin, "disabled_by_admin"),
        (owner.clone(), Action::ManageCredential, disabled_by_admin, "ok"),
        (admin.clone(), Action::EnableCredential, CredentialFacts { owner_user_id: member, ..disabled_by_admin }, "ok"),
        // A token needs credentials:manage, then covers the credential.
        (with_credential(owner.clone(), "api:read api:write", None), Action::ManageCredential, facts(me, &read, None), "missing_scope"),
        (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::IssueSecret, facts(me, &wide, None), "credential_wider_than_token"),
        (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::ManageCredential, facts(me, &manage, None), "credential_wider_than_token"),
        (with_credential(owner.clone(), "credentials:manage", Some(&[WS])), Action::ManageCredential, facts(me, &manage, Some(&ws)), "ok"),
        (with_credential(owner.clone(), "credentials:manage", None), Action::CreateCredential, facts(me, &read, None), "credential_wider_than_token"),
        (with_credential(owner.clone(), "api:read credentials:manage", None), Action::CreateCredential, facts(me, &read, Some(&ws)), "ok"),
        // A workspace-limited admin token manages only credentials within its limit.
        (with_credential(admin.clone(), "api:read api:write credentials:manage", Some(&[WS])), Action::ManageCredential, facts(member, &read, None), "credential_wider_than_token"),
        (with_credential(admin.clone(), "api:read api:write credentials:manage", Some(&[WS])), Action::ManageCredential, facts(member, &read, Some(&ws)), "ok"),
    ];
    for (principal, action, facts, want) in cases {
        let got = decide(&principal, action, Resource::Credential(facts))
            .map_or_else(|d| d.code(), |()| "ok");
        assert_eq!(got, want, "{action:?} on {facts:?} for {principal:?}");
    }
}

#[test]
fn the_account_table() {
    let me = person(Some(OrganizationRole::Member), None);
    let mine = Resource::Account {
        user_id: me.user_id,
    };
    let theirs = Resource::Account { user_id: 99 };
    let read_only = with_credential(me.clone(), "api:read", None);
    let cases = [
        (&me, Action::ReadAccount, mine, "ok"),
        (&me, Action::ManageAccount, mine, "ok"),
        (&me, Action::ReadAccount, theirs, "not_found"),
        (&read_only, Action::ReadAccount, mine, "ok"),
        (&read_only, Action::ManageAccount, mine, "missing_scope"),
        (&read_only, Action::ReadOwnAuditLog, mine, "ok"),
        (
            &with_credential(me.clone(), "credentials:manage", None),
            Action::ReadOwnAuditLog,
            mine,
            "missing_scope",
        ),
    ];
    for (principal, action, resource, want) in cases {
        let got = decide(principal, action, resource).map_or_else(|d| d.code(), |()| "ok");
        assert_eq!(got, want, "{action:?} on {resource:?}");
    }
}

/// Personal actions act only on accounts and credentials, and the tenancy and
/// content actions never on them: a mismatch is nothing to act on.
#[test]
fn actions_and_resources_of_different_kinds_never_meet() {
    let operator = operator();
    let scopes = Scopes::parse("api:read").expect("scopes");
    for action in Action::ALL {
        let personal = PERSONAL.contains(&action);
        let resources = [
            Resource::Platform,
            Resource::Organization { id: ORG },
            Resource::Workspace {
                id: WS,
                organization_id: ORG,
            },
            Resource::Account {
                user_id: operator.user_id,
            },
            Resource::Credential(facts(operator.user_id, &scopes, None)),
        ];
        for resource in resources {
            if personal != resource.is_personal() {
                assert_eq!(
                    decide(&operator, action, resource),
                    Err(Denial::NotFound),
                    "{action:?} on {resource:?}"
                );
            }
        }
    }
}

#[test]
fn an_organization_audit_is_for_its_admins_and_not_for_a_workspace_limited_token() {
    use OrganizationRole::{Admin, Member};
    let org = Resource::Organization { id: ORG };
    let cases = [
        (person(Some(Admin), None), "ok"),
        (
            person(Some(Member), Some(WorkspaceRole::Admin)),
            "missing_role",
        ),
        (
            with_credential(person(Some(Admin), None), "api:read", None),
            "ok",
        ),
        (
            with_credential(person(Some(Admin), None), "api:read", Some(&[WS])),
            "workspace_not_allowed",
        ),
        (
            with_credential(person(Some(Admin), None), "credentials:manage", None),
            "missing_scope",
        ),
    ];
    for (principal, want) in cases {
        let got =
            decide(&principal, Action::AuditOrganization, org).map_or_else(|d| d.code(), |()| "ok");
        assert_eq!(got, want, "{principal:?}");
    }
}

#[test]
fn roles_parse_only_their_lower_case_names() {
    assert_eq!(
        WorkspaceRole::parse("developer"),
        Some(WorkspaceRole::Developer)
    );
    assert_eq!(WorkspaceRole::parse("Developer"), None);
    assert_eq!(WorkspaceRole::parse("owner"), None);
}
