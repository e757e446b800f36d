// Allure 3 (npm package `allure`): `npx allure generate reports/allure-results -o reports/allure-report`
// groups the drills as an auditor reads them: epic "Disaster recovery" > scenario > runbook section.
export default {
  name: "pgdrill disaster-recovery drill",
  plugins: {
    awesome: {
      options: {
        reportName: "pgdrill disaster-recovery drill",
        groupBy: ["epic", "feature", "story"],
        stepTreeExpansion: "expanded",
      },
    },
  },
};
