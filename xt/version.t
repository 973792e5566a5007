# Cargo.toml's version and every module's $VERSION agree (0.001 == 0.1.0).
use Test2::V0;
use File::Find;

open my $fh, '<', 'Cargo.toml' or die "Cargo.toml: $!";
my ($cargo) = do { local $/; <$fh> }
    =~ /^version\s*=\s*"([^"]+)"/m;
ok( $cargo, "Cargo.toml version $cargo" );

my @modules;
find( sub { push @modules, $File::Find::name if /\.pm\z/ }, 'lib' );
for my $file ( sort @modules ) {
    open my $pm, '<', $file or die "$file: $!";
    my ($v) = do { local $/; <$pm> } =~ /our \$VERSION = '([^']+)'/;
    ok( $v, "$file has a \$VERSION" ) or next;
    is( version->parse($v)->normal, "v$cargo", "$file: $v matches Cargo.toml" );
}
done_testing;
