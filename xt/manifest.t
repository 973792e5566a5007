# MANIFEST lists every file git tracks (minus MANIFEST.SKIP), so `make dist`
# ships everything the build and the tests need.
use Test2::V0;
use ExtUtils::Manifest qw(maniread maniskip);

skip_all 'needs a git checkout' unless -d '.git';
my $listed  = maniread();
my $skip    = maniskip();
my @tracked = grep { !$skip->($_) } split /\n/, `git ls-files`;
is( [ grep { !exists $listed->{$_} } @tracked ], [], 'every tracked file is in MANIFEST' );
is( [ grep { !-e $_ } sort keys %$listed ],      [], 'every MANIFEST entry exists' );
done_testing;
