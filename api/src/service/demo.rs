//! `crm demo`: a tenant a newcomer can log into and explore, with weeks of
//! believable history so that adoption and data-quality figures have a story:
//! one steady seller, one who drifts away, marketing feeding leads, customer
//! service warming up, an admin who rarely logs in. Idempotent and
//! deterministic (a fixed seed), written through the services with each
//! transaction's clock set in the past, so every record has its traces.

use std::sync::Arc;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use entity::{account, activity, contact, lead, opportunity};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::auth::Actor;
use crate::db::trace::Change;
use crate::db::{Db, system};
use crate::error::ServiceResult;
use crate::service::accounts::AccountFields;
use crate::service::activities::{self, ActivityFields, Target};
use crate::service::contacts::ContactFields;
use crate::service::leads::{self, Conversion, LeadFields};
use crate::service::opportunities::OpportunityFields;
use crate::service::records::{self, RecordInput};
use crate::service::tenants::{self, NewTenant};
use crate::service::users::{self, NewUser};
use crate::service::validate::Patch;

pub const SLUG: &str = "demo";
pub const ADMIN_EMAIL: &str = "admin@demo.test";
pub const PASSWORD: &str = "demo-password";

/// The demo team: name, email, profile.
const TEAM: [(&str, &str, &str); 4] = [
    ("Sofia Sales", "sofia@demo.test", "Sales"),
    ("Samuel Sales", "samuel@demo.test", "Sales"),
    ("Maria Marketing", "maria@demo.test", "Marketing"),
    ("Carlos Care", "carlos@demo.test", "Customer Service"),
];

/// Creates the demo tenant, its users and `weeks` weeks of CRM history, unless
/// they exist. Returns whether anything was created.
pub async fn ensure(db: &Db, weeks: u32) -> ServiceResult<bool> {
    let tenant = match system::tenant_by_slug(db.connection(), SLUG).await? {
        Some(t) => t,
        None => {
            tenants::create(
                db,
                NewTenant {
                    slug: SLUG.into(),
                    name: "Demo Company".into(),
                    admin_email: ADMIN_EMAIL.into(),
                    admin_password: PASSWORD.into(),
                    admin_name: Some("Ada Admin".into()),
                },
            )
            .await?
        }
    };
    let profiles = users::profiles(&db.read(Arc::new(Actor::system(tenant.id, uuid::Uuid::nil())))).await?;
    let admin_profile = profiles.iter().find(|p| p.is_admin).map(|p| p.id).unwrap_or_default();
    let actor = Arc::new(Actor::system(tenant.id, admin_profile));
    let existing: Vec<String> = users::list(&db.read(actor.clone())).await?.into_iter().map(|u| u.email).collect();
    let missing: Vec<_> = TEAM.iter().filter(|(_, email, _)| !existing.iter().any(|e| e == email)).collect();
    let mut created = false;
    if !missing.is_empty() {
        created = true;
        create_team(db, actor.clone(), missing).await?;
    }
    if records::count::<account::Entity>(&db.read(actor.clone()), &[]).await? == 0 {
        created = true;
        let people = users::list(&db.read(actor.clone())).await?;
        let mut team = Vec::new();
        for u in people {
            let Some(profile) = profiles.iter().find(|p| p.id == u.profile_id) else { continue };
            let access = db.permissions(profile).await?;
            team.push(Member {
                actor: Arc::new(Actor::person(tenant.id, u.id, profile.id, access)),
                habits: habits(&u.email),
            });
        }
        seed_history(db, &team, weeks, Utc::now()).await?;
    }
    Ok(created)
}

async fn create_team(db: &Db, actor: Arc<Actor>, missing: Vec<&(&str, &str, &str)>) -> ServiceResult<()> {
    let tx = db.begin(actor, None).await?;
    for (name, email, profile) in missing {
        users::create(
            &tx,
            NewUser {
                email: (*email).into(),
                display_name: (*name).into(),
                password: PASSWORD.into(),
                profile_id: None,
                profile_name: Some((*profile).into()),
                manager_id: None,
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}

/// Default history length of `crm demo`.
pub const WEEKS: u32 = 8;

/// How much a member does on a working day (expected counts), and how that
/// changes over the period: `trend` -1 fades out, 0 steady, 1 ramps up.
#[derive(Clone, Copy)]
struct Habits {
    accounts: f64,
    contacts: f64,
    leads: f64,
    opportunities: f64,
    activities: f64,
    /// Share of due activities the member completes.
    diligence: f64,
    trend: f64,
}

fn habits(email: &str) -> Habits {
    let base = Habits {
        accounts: 0.0,
        contacts: 0.0,
        leads: 0.0,
        opportunities: 0.0,
        activities: 0.0,
        diligence: 0.8,
        trend: 0.0,
    };
    match email {
        "sofia@demo.test" => {
            Habits { accounts: 3.0, contacts: 4.0, opportunities: 2.0, activities: 6.0, diligence: 0.9, ..base }
        }
        "samuel@demo.test" => Habits {
            accounts: 2.5,
            contacts: 3.5,
            opportunities: 1.6,
            activities: 5.0,
            diligence: 0.6,
            trend: -1.0,
            ..base
        },
        "maria@demo.test" => Habits { leads: 6.0, activities: 1.0, diligence: 0.7, ..base },
        "carlos@demo.test" => Habits { contacts: 1.0, activities: 5.0, diligence: 0.85, trend: 1.0, ..base },
        _ => Habits { accounts: 0.2, leads: 0.3, activities: 0.5, diligence: 0.5, ..base },
    }
}

struct Member {
    actor: Arc<Actor>,
    habits: Habits,
}

/// A small deterministic generator (xorshift64*): the same demo on every machine.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n.max(1) as u64).unwrap_or(0)
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn word(&mut self, items: &[&'static str]) -> &'static str {
        items[self.below(items.len())]
    }

    /// A count with the given mean: its integer part plus one more with the remainder's chance.
    fn count(&mut self, mean: f64) -> usize {
        let whole = mean.max(0.0).floor();
        let extra = usize::from(self.unit() < mean - whole);
        whole as usize + extra
    }

    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

const COMPANIES: [&str; 24] = [
    "Acme",
    "Globex",
    "Initech",
    "Umbrella",
    "Hooli",
    "Vandelay",
    "Stark",
    "Wayne",
    "Wonka",
    "Tyrell",
    "Cyberdyne",
    "Soylent",
    "Oscorp",
    "Gringotts",
    "Monarch",
    "Aperture",
    "Black Mesa",
    "Dunder",
    "Prestige",
    "Pied Piper",
    "Massive Dynamic",
    "Nakatomi",
    "Sirius",
    "Virtucon",
];
const SUFFIXES: [&str; 6] = ["Ltd", "GmbH", "SA", "Inc.", "Group", "Partners"];
const SECTORS: [&str; 6] = ["Software", "Manufacturing", "Retail", "Healthcare", "Logistics", "Education"];
const CITIES: [(&str, &str, &str); 6] = [
    ("Lyon", "Auvergne-Rhône-Alpes", "France"),
    ("Paris", "Île-de-France", "France"),
    ("Berlin", "Berlin", "Germany"),
    ("Madrid", "Madrid", "Spain"),
    ("Milan", "Lombardy", "Italy"),
    ("Lisbon", "Lisbon", "Portugal"),
];
const FIRST: [&str; 16] = [
    "Anna", "Ben", "Chloé", "David", "Elena", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Karin", "Luca", "Mila",
    "Noah", "Olga", "Pablo",
];
const LAST: [&str; 16] = [
    "Martin", "Schmidt", "García", "Rossi", "Dubois", "Silva", "Novak", "Jensen", "Moreau", "Weber", "López",
    "Bianchi", "Costa", "Lambert", "Fischer", "Romero",
];
const TITLES: [&str; 5] = ["CEO", "Buyer", "IT Manager", "Head of Operations", "Procurement Lead"];
/// The open part of the pipeline, in order; deals leave it as won or lost.
const STAGES: [&str; 4] = ["received", "qualification", "proposal", "negotiation"];

/// What happened, and when.
enum Event {
    Login,
    Account,
    Contact,
    Lead,
    Opportunity,
    Activity,
    Advance(Uuid, &'static str),
    Qualify(Uuid),
    Convert(Uuid),
    Complete(Uuid),
}

/// Replays `weeks` weeks of a team's work, ending `until`.
async fn seed_history(db: &Db, team: &[Member], weeks: u32, until: DateTime<Utc>) -> ServiceResult<()> {
    let mut rng = Rng(0x5EED_CA11_AB1E_D00D);
    let days = i64::from(weeks) * 7;
    let start = until.date_naive() - Duration::days(days);
    let mut accounts: Vec<Uuid> = Vec::new();
    let mut contacts: Vec<Uuid> = Vec::new();
    let mut open_leads: Vec<(Uuid, Uuid)> = Vec::new();
    // (deal, owner, index in STAGES)
    let mut open_deals: Vec<(Uuid, Uuid, usize)> = Vec::new();
    let mut due: Vec<(DateTime<Utc>, Uuid, usize, bool)> = Vec::new();
    for day in 0..=days {
        let date = start + Duration::days(day);
        let weekday = chrono::Datelike::weekday(&date).num_days_from_monday();
        if weekday >= 5 {
            continue;
        }
        let progress = day as f64 / days.max(1) as f64;
        let mut events: Vec<(DateTime<Utc>, usize, Event)> = Vec::new();
        for (who, member) in team.iter().enumerate() {
            let h = member.habits;
            let zeal = (1.0 + h.trend * (progress - 0.5) * 1.6).max(0.05);
            if !rng.chance(zeal.min(1.0) * 0.9) {
                continue;
            }
            let mut at = at_time(date, 8 * 60 + rng.below(60));
            let mut push = |events: &mut Vec<_>, rng: &mut Rng, event| {
                at += Duration::minutes(5 + rng.below(40) as i64);
                events.push((at, who, event));
            };
            push(&mut events, &mut rng, Event::Login);
            for (mean, make) in [
                (h.accounts, (|| Event::Account) as fn() -> Event),
                (h.contacts, || Event::Contact),
                (h.leads, || Event::Lead),
                (h.opportunities, || Event::Opportunity),
                (h.activities, || Event::Activity),
            ] {
                for _ in 0..rng.count(mean * zeal) {
                    push(&mut events, &mut rng, make());
                }
            }
            let me = member.actor.user_id.unwrap_or_default();
            for _ in 0..rng.count(h.opportunities * 2.5 * zeal) {
                let mine: Vec<usize> = (0..open_deals.len()).filter(|i| open_deals[*i].1 == me).collect();
                if mine.is_empty() {
                    break;
                }
                let index = *rng.pick(&mine);
                let (deal, _, stage) = open_deals[index];
                // Forward through the pipeline; from negotiation (or on a bad day) it closes.
                let next = if stage + 1 < STAGES.len() && rng.chance(0.85) {
                    open_deals[index].2 = stage + 1;
                    STAGES[stage + 1]
                } else {
                    open_deals.swap_remove(index);
                    if stage + 1 == STAGES.len() && rng.chance(0.6) { "won" } else { "lost" }
                };
                push(&mut events, &mut rng, Event::Advance(deal, next));
            }
            if h.leads > 0.0 && !open_leads.is_empty() {
                if rng.chance(0.6) {
                    let (id, _) = open_leads[rng.below(open_leads.len())];
                    push(&mut events, &mut rng, Event::Qualify(id));
                }
                if rng.chance(0.3) {
                    let index = rng.below(open_leads.len());
                    let (id, _) = open_leads.swap_remove(index);
                    push(&mut events, &mut rng, Event::Convert(id));
                }
            }
        }
        // Activities due today are completed (or not) by their owner.
        let end_of_day = at_time(date, 18 * 60);
        let (today, later): (Vec<_>, Vec<_>) = due.into_iter().partition(|(at, ..)| *at <= end_of_day);
        due = later;
        for (at, id, who, will) in today {
            if will {
                events.push((at.max(at_time(date, 8 * 60)), who, Event::Complete(id)));
            }
        }
        events.sort_by_key(|(at, ..)| *at);
        for (at, who, event) in events {
            if at > until {
                continue;
            }
            let member = &team[who];
            let tx = db.begin_at(member.actor.clone(), None, at).await?;
            let owner = Patch::Keep;
            let set = |s: &str| Patch::Set(s.to_owned());
            match event {
                Event::Login => {
                    tx.trace(Change::login(member.actor.user_id.unwrap_or_default())).await?;
                }
                Event::Account => {
                    let (city, state, country) = *rng.pick(&CITIES);
                    let name = format!("{} {}", rng.pick(&COMPANIES), rng.pick(&SUFFIXES));
                    let complete = rng.chance(0.7);
                    let fields = AccountFields {
                        website: if complete {
                            Patch::Set(format!("{}.example", name.to_lowercase().replace([' ', '.'], "")))
                        } else {
                            Patch::Keep
                        },
                        name: Patch::Set(name),
                        account_type: set(rng.word(&["prospect", "customer", "partner", "prospect"])),
                        purchase_potential: if complete {
                            set(rng.word(&["low", "medium", "high"]))
                        } else {
                            Patch::Keep
                        },
                        sector: set(rng.word(&SECTORS)),
                        city: set(city),
                        state: if complete { set(state) } else { Patch::Keep },
                        country: set(country),
                        ..Default::default()
                    };
                    let a = records::create::<account::Entity>(
                        &tx,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                    )
                    .await?;
                    accounts.push(a.id);
                }
                Event::Contact => {
                    let (first, last) = (*rng.pick(&FIRST), *rng.pick(&LAST));
                    let account_id = (!accounts.is_empty()).then(|| *rng.pick(&accounts));
                    let fields = ContactFields {
                        account_id: account_id.map_or(Patch::Keep, Patch::Set),
                        first_name: set(first),
                        last_name: set(last),
                        title: if rng.chance(0.6) { set(rng.word(&TITLES)) } else { Patch::Keep },
                        email: if rng.chance(0.8) {
                            Patch::Set(format!(
                                "{}.{}{}@mail.example",
                                first.to_lowercase(),
                                last.to_lowercase(),
                                rng.below(100)
                            ))
                        } else {
                            Patch::Keep
                        },
                        phone: if rng.chance(0.5) {
                            Patch::Set(format!(
                                "+33 4 {:02} {:02} {:02} {:02}",
                                rng.below(100),
                                rng.below(100),
                                rng.below(100),
                                rng.below(100)
                            ))
                        } else {
                            Patch::Keep
                        },
                        mobile: Patch::Keep,
                    };
                    let c = records::create::<contact::Entity>(
                        &tx,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                    )
                    .await?;
                    contacts.push(c.id);
                }
                Event::Lead => {
                    let (first, last) = (*rng.pick(&FIRST), *rng.pick(&LAST));
                    let (city, state, _) = *rng.pick(&CITIES);
                    let thorough = rng.chance(0.5);
                    let company = format!("{} {}", rng.pick(&COMPANIES), rng.pick(&SUFFIXES));
                    let fields = LeadFields {
                        first_name: set(first),
                        last_name: set(last),
                        website: if thorough {
                            Patch::Set(format!("{}.example", company.to_lowercase().replace([' ', '.'], "")))
                        } else {
                            Patch::Keep
                        },
                        company: Patch::Set(company),
                        title: if thorough { set(rng.word(&TITLES)) } else { Patch::Keep },
                        email: Patch::Set(format!("{}@{}.example", first.to_lowercase(), last.to_lowercase())),
                        phone: if thorough {
                            Patch::Set(format!("+34 91 {:03} {:04}", rng.below(1000), rng.below(10_000)))
                        } else {
                            Patch::Keep
                        },
                        street: if thorough {
                            Patch::Set(format!("{} Main Street", 1 + rng.below(200)))
                        } else {
                            Patch::Keep
                        },
                        city: set(city),
                        state: if thorough { set(state) } else { Patch::Keep },
                        postal_code: if thorough {
                            Patch::Set(format!("{:05}", rng.below(100_000)))
                        } else {
                            Patch::Keep
                        },
                        source: set(rng.word(&["web", "referral", "event", "phone", "other"])),
                        status: Patch::Keep,
                    };
                    let l = records::create::<lead::Entity>(
                        &tx,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                    )
                    .await?;
                    open_leads.push((l.id, l.owner_id));
                }
                Event::Opportunity => {
                    if accounts.is_empty() {
                        continue;
                    }
                    let close = at.date_naive() + Duration::days(7 + rng.below(80) as i64);
                    let fields = OpportunityFields {
                        account_id: Patch::Set(*rng.pick(&accounts)),
                        name: Patch::Set(format!(
                            "{} deal",
                            rng.pick(&["Licences", "Consulting", "Support plan", "Hardware", "Training"])
                        )),
                        stage: Patch::Keep,
                        amount: Patch::Set(Decimal::from(500 * (1 + rng.below(200)))),
                        currency: set("EUR"),
                        close_date: if rng.chance(0.85) { Patch::Set(close) } else { Patch::Keep },
                    };
                    let o = records::create::<opportunity::Entity>(
                        &tx,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                    )
                    .await?;
                    open_deals.push((o.id, o.owner_id, 0));
                }
                Event::Activity => {
                    let target = match rng.below(3) {
                        0 if !accounts.is_empty() => Target::Account(*rng.pick(&accounts)),
                        1 if !open_deals.is_empty() => Target::Opportunity(rng.pick(&open_deals).0),
                        _ if !contacts.is_empty() => Target::Contact(*rng.pick(&contacts)),
                        _ => continue,
                    };
                    let due_at = at + Duration::hours(2 + rng.below(24 * 6) as i64);
                    let fields = ActivityFields {
                        kind: set(rng.word(&["call", "meeting", "email", "visit", "task"])),
                        subject: Patch::Set(format!(
                            "{} with customer",
                            rng.pick(&["Follow-up", "Demo", "Check-in", "Quote review", "Kick-off"])
                        )),
                        objective: set(rng.word(&[
                            "prospecting",
                            "follow_up",
                            "presentation",
                            "negotiation",
                            "support",
                        ])),
                        due_at: Patch::Set(due_at),
                        target: Some(target),
                        ..Default::default()
                    };
                    let a = records::create::<activity::Entity>(
                        &tx,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                    )
                    .await?;
                    due.push((due_at, a.id, who, rng.chance(member.habits.diligence)));
                }
                Event::Advance(id, stage) => {
                    let fields = OpportunityFields { stage: set(stage), ..Default::default() };
                    let input = RecordInput { owner, external_id: Patch::Keep, fields, custom: None };
                    records::update::<opportunity::Entity>(&tx, id, input, None).await?;
                }
                Event::Qualify(id) => {
                    let fields = LeadFields {
                        status: set(rng.word(&["working", "qualified", "disqualified"])),
                        ..Default::default()
                    };
                    // A lead converted earlier the same day is left alone.
                    if records::update::<lead::Entity>(
                        &tx,
                        id,
                        RecordInput { owner, external_id: Patch::Keep, fields, custom: None },
                        None,
                    )
                    .await
                    .is_err()
                    {
                        continue;
                    }
                }
                Event::Convert(id) => {
                    let with_deal = rng.chance(0.6);
                    let conversion = Conversion {
                        account_id: None,
                        opportunity_name: with_deal.then(|| "New business".to_owned()),
                        amount: with_deal.then(|| Decimal::from(1_000 * (1 + rng.below(50)))),
                        currency: with_deal.then(|| "EUR".to_owned()),
                        close_date: with_deal.then(|| at.date_naive() + Duration::days(30)),
                        owner_id: None,
                    };
                    let done = leads::convert(&tx, id, conversion).await?;
                    accounts.push(done.account.id);
                    contacts.push(done.contact.id);
                    if let Some(o) = done.opportunity {
                        open_deals.push((o.id, o.owner_id, 0));
                    }
                }
                Event::Complete(id) => {
                    let result = rng.pick(&["successful", "unsuccessful", "rescheduled", "no_answer"]);
                    activities::complete(&tx, id, Some((*result).to_owned())).await?;
                }
            }
            tx.commit().await?;
        }
    }
    Ok(())
}

fn at_time(date: NaiveDate, minutes: usize) -> DateTime<Utc> {
    let midnight = date.and_hms_opt(0, 0, 0).unwrap_or_default();
    Utc.from_utc_datetime(&midnight) + Duration::minutes(minutes as i64)
}
