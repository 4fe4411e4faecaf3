"""Accessibility: axe-core (vendored, MPL-2.0) on the main pages of every role, and the login
done with the keyboard alone."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from audit.integrator import audit_checkpoint_now
from cases import services
from cases.access import Access
from cases.selectors import case_context
from cases.sharing import lead_share_request
from hashsets.models import HashSet
from tests.e2e.conftest import code_for

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe.min.js"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def axe_violations(page: Page) -> list[dict]:
    """Run axe-core (WCAG 2.x A and AA rules, best practices) on the page as it is now."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(content=AXE.read_text(encoding="utf-8"))
    return page.evaluate(
        """async (tags) => {
            const r = await axe.run(document, {resultTypes: ["violations"], runOnly: {type: "tag", values: tags}});
            return r.violations.map(v => ({id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
        }""",
        AXE_TAGS,
    )


@pytest.fixture
def axe_report(request):
    """Collects axe findings per page; fails on serious or critical ones, prints the rest."""
    if not AXE.exists():
        pytest.skip(f"axe-core is not vendored at {AXE}")
    found: dict[str, list[dict]] = {}

    def check(page: Page, name: str) -> None:
        page.wait_for_load_state("load")
        found[name] = axe_violations(page)

    yield check
    lines = []
    for name, violations in found.items():
        for v in violations:
            lines.append(f"{name}: [{v['impact']}] {v['id']}: {v['help']} at {', '.join(v['nodes'])}")
    print(f"\naxe-core on {len(found)} pages: {len(lines)} finding(s)")
    print("\n".join(lines) or "none")
    blocking = [line for line in lines if re.search(r"\[(serious|critical)\]", line)]
    assert not blocking, "\n".join(blocking)


@pytest.fixture
def busy_node(alice, sam, adam, audrey, partners, seized):
    """A case with matched evidence, a lead waiting for approval, hash sets: pages with content."""
    case = services.case_create(acting_user=alice, title="Operation Lantern", description="Seized devices")
    context = case_context(user=alice, case_id=case.pk, need=Access.WRITE)
    digests = "\n".join(d.sha256 for d in seized["digests"])
    services.evidence_add(acting_user=alice, context=context, parsed=services.evidence_parse_pasted(digests))
    lead = services.lead_create(
        acting_user=alice, context=context, title="Child in a yellow-walled bedroom", clues=[("language", "Dutch")]
    )
    lead_share_request(acting_user=alice, lead=lead, partner_codes=["RNP"], purpose="victim_identification")
    return {"case": case, "lead": lead, "hashset": HashSet.objects.get(name="NSP known material")}


def test_login_with_the_keyboard_only(server, open_page, alice):
    page = open_page()
    page.goto(f"{server}/login/")
    focused = "document.activeElement && (document.activeElement.name || document.activeElement.textContent)"
    assert page.evaluate(focused) == "username"  # autofocus
    page.keyboard.type("alice")
    page.keyboard.press("Tab")
    assert page.evaluate(focused) == "password"
    page.keyboard.type("a-long-and-unguessable-test-passphrase")
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="One-time code")).to_be_visible()
    assert page.evaluate(focused) == "code"  # autofocus on the next step too
    page.keyboard.type(code_for(alice))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name=re.compile("^Welcome"))).to_be_visible()

    # First Tab on a page: the skip link, which moves focus to the main content.
    page.keyboard.press("Tab")
    assert page.evaluate(focused).strip() == "Skip to content"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"


def test_no_serious_accessibility_violations(
    server, open_page, logged_in, axe_report, alice, sam, adam, audrey, busy_node
):
    case, lead, hashset = busy_node["case"], busy_node["lead"], busy_node["hashset"]
    anonymous = open_page(bypass_csp=True)  # axe is injected as a script: only these pages lift the CSP
    anonymous.goto(f"{server}/login/")
    axe_report(anonymous, "login")
    anonymous.get_by_role("button", name="Continue").click()  # the form with its errors
    axe_report(anonymous, "login with errors")

    pages = {
        alice: [
            ("/", "investigator dashboard"),
            ("/cases/", "cases"),
            (f"/cases/{case.pk}/", "case detail"),
            (f"/cases/{case.pk}/evidence/", "triage"),
            (f"/cases/leads/{lead.pk}/", "lead"),
            ("/hashsets/", "hash sets"),
            (f"/hashsets/{hashset.pk}/", "hash set detail"),
            ("/exchange/", "exchange (investigator)"),
        ],
        sam: [("/", "supervisor dashboard"), ("/cases/shares/", "share approvals")],
        adam: [
            ("/", "admin dashboard"),
            ("/agency/users/", "users"),
            ("/agency/users/new/", "add user"),
            ("/exchange/", "exchange (admin)"),
        ],
        audrey: [("/", "auditor dashboard"), ("/audit/", "audit log"), ("/audit/verify/", "verification")],
    }
    for user, urls in pages.items():
        page = logged_in(user, bypass_csp=True)
        audit_checkpoint_now()  # the auditor's pages then show integrated entries and a checkpoint
        for url, name in urls:
            page.goto(f"{server}{url}")
            axe_report(page, name)
        if user == adam:
            page.goto(f"{server}/exchange/")
            page.get_by_role("button", name="Rotate keys").click()
            axe_report(page, "message after an action")
        if user == audrey:
            page.goto(f"{server}/audit/")
            page.locator("table tbody tr a").first.click()
            axe_report(page, "audit entry")
